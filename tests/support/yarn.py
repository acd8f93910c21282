"""A DAG run on YARN seen from outside: the applications its submit task named, the one the ResourceManager runs,
the driver's pages through the ResourceManager's proxy, and the containers' logs a NodeManager keeps."""

from __future__ import annotations

import re
from pathlib import Path

from include import yarn
from tests.support.airflow import BackgroundDagRun


def applications(output: str) -> list[str]:
    """The YARN applications a run's submit tasks named in their log (KafkaSparkSubmitOperator's line), in order."""
    return list(dict.fromkeys(re.findall(r"YARN application (application_\d+_\d+) \(ResourceManager", output)))


def running_application(bg: BackgroundDagRun, rm: str) -> str | None:
    """The newest application the background run's task named in its log, once the ResourceManager runs it."""
    apps = applications(bg.log.read_text(errors="replace"))
    try:
        if apps and yarn.app_state(rm, apps[-1]).state == "RUNNING":
            return apps[-1]
    except yarn.YarnError:  # named while spark-submit uploads its files, before the ResourceManager has it
        pass
    return None


ENVIRONMENT_PAGE = "environment"


def yarn_ui_pages(rm: str, app: str) -> dict[str, str]:
    """What the YARN UI shows of a running application, as text by what it is: the driver's Spark environment page
    (Spark properties, system properties, Hadoop properties, classpath) through the ResourceManager's web proxy,
    where the YARN UI's ApplicationMaster link leads (``environment``: the page, or the proxy's answer when the
    driver serves none); the ResourceManager's page of the application, and its REST view and attempts."""
    import requests

    urls = {
        ENVIRONMENT_PAGE: f"{rm}/proxy/{app}/api/v1/applications/{app}/environment?proxyapproved=true",
        "resourcemanager app page": f"{rm}/cluster/app/{app}",
        "resourcemanager REST app": f"{rm}/ws/v1/cluster/apps/{app}",
        "resourcemanager REST attempts": f"{rm}/ws/v1/cluster/apps/{app}/appattempts",
    }
    pages = {}
    for what, url in urls.items():
        try:
            resp = requests.get(url, timeout=(5, 30))
            pages[what] = f"HTTP {resp.status_code}\n{resp.text}"
        except requests.exceptions.RequestException as exc:
            pages[what] = f"unreachable: {exc}"
    return pages


def is_spark_environment(text: str) -> bool:
    """The proxy served a driver's Spark environment page (not an error or the ResourceManager's own answer)."""
    return text.startswith("HTTP 200") and '"sparkProperties"' in text


def container_logs(yarn_data: Path, app: str) -> list[Path]:
    """Every log file (stdout, stderr, syslog ...) of every container of ``app`` that the NodeManagers under
    ``yarn_data`` (``<profile data>/yarn``) keep (log aggregation is off here)."""
    return [p for p in yarn_data.glob(f"*/logs/{app}/*/*") if p.is_file()]
