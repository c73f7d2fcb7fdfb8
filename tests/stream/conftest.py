"""The stream tests' moto_server (Kinesis over HTTP), and reading a shard back like the consumer does."""

from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401 (fixtures)


def read_all(stream, shard_id, page=7):
    """Every record of a shard, paging with after_sequence like the consumer does (small pages by default)."""
    out, after = [], None
    while True:
        page_records = stream.read(shard_id, after, page)
        if not page_records:
            return out
        out.extend(page_records)
        after = page_records[-1].sequence_number
