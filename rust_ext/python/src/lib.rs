//! PyO3 layer: converts types, maps errors, releases the GIL. No logic here.

use pyo3::prelude::*;

mod errors;
mod keyindex;
mod processing;
mod writing;

#[pymodule]
fn data_processor_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", eventlake_core::VERSION)?;
    errors::register(m)?;
    processing::register(m)?;
    m.add_class::<keyindex::KeyIndex>()?;
    writing::register(m)?;
    Ok(())
}
