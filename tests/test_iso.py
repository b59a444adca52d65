"""base.iso's fast path for canonical timestamps gives exactly what its general path gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest import timestamps as base


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1)))
def test_canonical_timestamps_come_back_as_the_general_path_gives_them(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert base.iso(text) == base._iso_text(text.strip()) == text


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-30T00:00:00Z",  # no such day
        "2025-01-01T25:00:00Z",
        "2025-W01-1T00:00:00Z",  # an ISO week date of the same length
        "2025-01-01 00:00:00Z",
        "2025-01-01T00:00:0xZ",
        "２025-01-01T00:00:00Z",  # non-ASCII digits
        " 2025-01-01T00:00:00Z ",
        "2025-01-01T00:00:00+02:00",
    ],
)
def test_near_canonical_timestamps_are_read_as_the_general_path_reads_them(text: str) -> None:
    assert base.iso(text) == base._iso_text(text.strip())


def test_offsets_are_converted_to_utc() -> None:
    moment = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert base.iso((moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")) == "2025-03-01T12:00:00Z"
