"""7: peak RSS of the Spark driver JVM and of the broker during the write and read stages."""

from __future__ import annotations

from bench.stages.common import Context


def run(ctx: Context) -> str:
    write, read = ctx.details.get("write", {}), ctx.details.get("read", {})
    drivers = [v for v in (write.get("driver_peak_rss_mb"), read.get("driver_peak_rss_mb")) if v]
    brokers = [v for v in (write.get("broker_peak_rss_mb"), read.get("broker_peak_rss_mb")) if v]
    if not drivers or not brokers:
        raise RuntimeError("no RSS samples: the write and read stages did not run")
    ctx.results["driver_peak_rss_mb"] = max(drivers)
    ctx.results["broker_peak_rss_mb"] = max(brokers)
    return f"driver JVM {max(drivers):,.0f} MB, broker {max(brokers):,.0f} MB (peak RSS during write and read)"
