//! Every core error becomes a Python exception of its own class, carrying
//! structured `details` (a list of dicts), never just a string.

use eventlake_core::CoreError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;

create_exception!(
    data_processor_rs,
    DataProcessorError,
    PyException,
    "Base class of data_processor_rs errors; `details` is a list of dicts."
);
create_exception!(
    data_processor_rs,
    ParseError,
    DataProcessorError,
    "Malformed input; `line` (1-based) and `offset` (byte) of the first problem."
);
create_exception!(
    data_processor_rs,
    ValidationError,
    DataProcessorError,
    "A schema, rules document or record is invalid."
);
create_exception!(
    data_processor_rs,
    UnsupportedFormatError,
    DataProcessorError,
    "An unsupported data format; `format` names it."
);
create_exception!(
    data_processor_rs,
    WriteError,
    DataProcessorError,
    "Writing Parquet data files failed."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<DataProcessorError>();
    // class-level defaults so instances raised from Python code have them too
    base.setattr("details", PyTuple::empty(py))?;
    let parse = py.get_type::<ParseError>();
    parse.setattr("line", py.None())?;
    parse.setattr("offset", py.None())?;
    let unsupported = py.get_type::<UnsupportedFormatError>();
    unsupported.setattr("format", py.None())?;
    m.add("DataProcessorError", base)?;
    m.add("ParseError", parse)?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("UnsupportedFormatError", unsupported)?;
    m.add("WriteError", py.get_type::<WriteError>())?;
    Ok(())
}

pub fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn build(py: Python<'_>, e: CoreError) -> PyResult<PyErr> {
    let details = e.details();
    let message = e.to_string();
    let err = match &e {
        CoreError::Parse { .. } => ParseError::new_err(message),
        CoreError::Validation { .. } => ValidationError::new_err(message),
        CoreError::UnsupportedFormat { .. } => UnsupportedFormatError::new_err(message),
        CoreError::Write { .. } => WriteError::new_err(message),
        CoreError::Input { .. } | CoreError::Internal { .. } => {
            DataProcessorError::new_err(message)
        }
    };
    let inst = err.value(py);
    let list = PyList::empty(py);
    for d in &details {
        list.append(json_to_py(py, &Value::Object(d.clone()))?)?;
    }
    inst.setattr("details", list)?;
    match &e {
        CoreError::Parse { line, offset, .. } => {
            inst.setattr("line", *line)?;
            inst.setattr("offset", *offset)?;
        }
        CoreError::UnsupportedFormat { format } => inst.setattr("format", format)?,
        _ => {}
    }
    Ok(err)
}

/// Map a core error to its Python exception (with `.details` and, where they
/// apply, `.line`/`.offset`/`.format`).
pub fn to_py_err(e: CoreError) -> PyErr {
    Python::attach(|py| build(py, e).unwrap_or_else(|err| err))
}

/// The bindings' error: a core error already mapped to its Python exception,
/// or a Python error. `impl From<CoreError> for PyErr` itself is refused by
/// the orphan rule (E0117: both types are foreign to this crate), so the
/// bindings return [`Result`] and `?` converts both kinds; PyO3 raises it as
/// the `PyErr` it holds.
#[derive(Debug)]
pub struct Error(PyErr);

/// The result of a binding; `?` accepts core and Python errors alike.
pub type Result<T> = std::result::Result<T, Error>;

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Error(to_py_err(e))
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> Self {
        e.0
    }
}
