"""The UI of tests/integration/test_ui.py (`make ui` for the module, `make ui-stop` after, checked) and its REST
client, for the event-driven tests."""

from tests.integration.test_ui import airflow_ui, api  # noqa: F401 - fixtures
