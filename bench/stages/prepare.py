"""0: a deterministic players CSV of the run's size (bench/players_data.py)."""

from __future__ import annotations

import time

from bench import players_data
from bench.stages.common import SEED, Context


def run(ctx: Context) -> str:
    started = time.monotonic()
    ctx.big_csv = players_data.write_csv(ctx.work / "players.csv", ctx.rows, SEED)
    generated = time.monotonic() - started
    ctx.details["data"] = {
        "rows": ctx.big_csv.rows,
        "bytes": ctx.big_csv.bytes,
        "avg_row_bytes": round(ctx.big_csv.avg_row_bytes, 2),
        "seed": SEED,
        "generate_s": round(generated, 2),
    }
    return f"{ctx.rows:,} rows, {ctx.big_csv.bytes / 1e6:.1f} MB, {ctx.big_csv.avg_row_bytes:.1f} bytes/row"
