"""1: the broker ceiling: Kafka's own perf tools (acks=all, the write job's producer settings, record size =
the average players row) on a fresh topic."""

from __future__ import annotations

from bench import stats
from bench.stages.common import Context, kafka_tool, producer_props


def run(ctx: Context) -> str:
    assert ctx.big_csv is not None
    topic = ctx.topic("perf")
    record_size = max(1, round(ctx.big_csv.avg_row_bytes))
    props = producer_props(ctx.bootstrap)
    produced = stats.parse_producer_perf(
        kafka_tool(
            "kafka-producer-perf-test",
            [
                *("--topic", topic, "--num-records", str(ctx.rows), "--record-size", str(record_size)),
                *("--throughput", "-1", "--producer-props", *props),
            ],
        )
    )
    group = ctx.name("perf-consumer")
    ctx.groups.append(group)
    consumed = stats.parse_consumer_perf(
        kafka_tool(
            "kafka-consumer-perf-test",
            [
                *("--bootstrap-server", ctx.bootstrap, "--topic", topic, "--messages", str(ctx.rows)),
                *("--group", group, "--timeout", "60000"),
            ],
        )
    )
    if consumed.get("data.consumed.in.nMsg", 0) < ctx.rows:
        raise RuntimeError(f"kafka-consumer-perf-test read {consumed.get('data.consumed.in.nMsg')} of {ctx.rows}")
    ctx.results["producer_perf_rows_per_s"] = produced["records_per_s"]
    # the fetch rate (group join excluded): Spark's source assigns partitions, it joins no group
    ctx.results["consumer_perf_rows_per_s"] = consumed["fetch.nMsg.sec"]
    ctx.details["producer_perf"] = {
        **produced,
        "record_size": record_size,
        "producer_props": props[1:],
    }
    ctx.details["consumer_perf"] = consumed
    return (
        f"producer {produced['records_per_s']:,.0f} rec/s, consumer {consumed['fetch.nMsg.sec']:,.0f} rec/s "
        f"(fetch; {consumed['nMsg.sec']:,.0f} rec/s with the group join)"
    )
