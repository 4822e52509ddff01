"""`crossview sql`: one DuckDB query over an export directory, every table a view, printed as a table."""

from __future__ import annotations

from pathlib import Path

import duckdb

from services.adapters.parquet_export import ExportDirectory, read_parquet_sql

MAX_ROWS = 10_000  # printed at most; more is what a file or a notebook is for


def connect(directory: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every table of the export as a view."""
    if not (directory / "_export.json").exists():
        raise FileNotFoundError(f"{directory} holds no export (run `crossview export --to {directory}` first)")
    connection = duckdb.connect()
    root = directory.resolve()
    for name, glob in ExportDirectory(root).tables().items():
        path = str(root / glob).replace("'", "''")
        connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {read_parquet_sql(path)}')
    return connection


def query(directory: Path, statement: str, limit: int = MAX_ROWS) -> tuple[list[str], list[tuple], bool]:
    """(column names, rows, whether rows were cut at ``limit``); ValueError for an empty statement."""
    connection = connect(directory)
    try:
        result = connection.execute(statement)
        if result is None:  # "", ";", a comment: DuckDB ran nothing
            raise ValueError('nothing to run: the statement is empty (e.g. "SHOW TABLES")')
        if result.description is None:
            return [], [], False
        columns = [d[0] for d in result.description]
        rows = result.fetchmany(limit + 1)
        return columns, rows[:limit], len(rows) > limit
    finally:
        connection.close()


def render(columns: list[str], rows: list[tuple]) -> str:
    """A plain text table, as psql prints one."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return " | ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out = [line(columns), "-+-".join("-" * w for w in widths), *(line(r) for r in cells)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def _cell(value) -> str:
    return "" if value is None else str(value)
