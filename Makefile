# The verbs a user types. `make help` lists them. Every target that needs the stack or the venv sets them up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
HDFS_USER ?= $(shell id -un)

# ---- one environment for Airflow, the jobs and the tests (connections included; no secrets here) ----------
export PATH := $(VENV)/bin:$(PATH)
export PYTHONPATH := $(ROOT)
AIRFLOW_HOME ?= $(ROOT)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__CORE__EXECUTOR ?= LocalExecutor
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__LOGGING__LOGGING_LEVEL ?= INFO
export HADOOP_USER_NAME := $(HDFS_USER)
# Spark binds to loopback only (it would pick the first network interface otherwise)
export SPARK_LOCAL_IP := 127.0.0.1

# ---- the profile: which stack `up/down/status` drive and where the connections point. The DAGs are the same. --
#   single   one process per service: Kafka localhost:9092, HDFS localhost:8020/9870, Spark local[*]
#   cluster  3 Kafka brokers (localhost:29092,29094,29096), NameNode localhost:28020/29870 + 2 DataNodes,
#            Spark standalone spark://localhost:7077 (UI localhost:8180) + 2 workers, YARN (ResourceManager
#            localhost:28032, UI + REST localhost:28088) + 2 NodeManagers; see devstack/nodes.py
#   single + YARN (on demand: make up YARN=1, or SPARK_MASTER=yarn; make bench's yarn stage; make test-yarn):
#            a ResourceManager (localhost:18032, UI + REST localhost:18088) + 1 NodeManager on the single HDFS
# Ports come from devstack/nodes.py. The single profile's can be moved, with its own STACK_DIR, to run a second
# single-node stack beside the first: make up STACK_DIR=/tmp/s2 KAFKA_PORT=39092 KAFKA_SECURE_PORT=39093
# KAFKA_MTLS_PORT=39094 KAFKA_CONTROLLER_PORT=39192 NAMENODE_RPC_PORT=38020 NAMENODE_HTTP_PORT=39870 DATANODE_PORT=39866
# DATANODE_HTTP_PORT=39864 DATANODE_IPC_PORT=39867 YARN_PORT_BASE=17000 (the connections below follow the first six and
# the last).
PROFILE ?= single
# read_from_kafka's asset watcher (docs/events.md): its own group, offsets committed by the provider's ack channel
# only (auto-commit off, or the provider refuses to start), an error_cb that logs an unreachable broker, which the
# provider resolves only when listed in [apache_kafka] callback_allowlist
WATCHER_EXTRA := "group.id": "kafka-spark-airflow-watcher", "enable.auto.commit": "false", "auto.offset.reset": "earliest", "error_cb": "include.kafka.arrival.log_client_error"
export AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST ?= include.kafka.arrival.log_client_error
# make test-cluster is always about the cluster
ifneq ($(filter test-cluster,$(MAKECMDGOALS)),)
PROFILE := cluster
endif
export PROFILE
STACK_DIR ?= $(ROOT)/.stack
export STACK_DIR
DEVSTACK := $(PY) -m devstack
# spark-submit finds the Kafka connector's jars here (include/ never names .stack)
export SPARK_KAFKA_JARS_DIR ?= $(STACK_DIR)/jars/spark-kafka
ifeq ($(PROFILE),single)
# the defaults of devstack/nodes.py (tests/unit/test_cluster_profile.py keeps them equal)
export KAFKA_PORT ?= 9092
export KAFKA_SECURE_PORT ?= 9093
export KAFKA_MTLS_PORT ?= 9094
export KAFKA_CONTROLLER_PORT ?= 19092
export NAMENODE_RPC_PORT ?= 8020
export NAMENODE_HTTP_PORT ?= 9870
# the single profile's YARN (on demand): YARN_PORT_BASE + Hadoop's port digits (devstack/nodes.py single_yarn_ports)
export YARN_PORT_BASE ?= 18000
export AIRFLOW_CONN_KAFKA_DEFAULT ?= {"conn_type": "kafka", "extra": {"bootstrap.servers": "localhost:$(KAFKA_PORT)"}}
export AIRFLOW_CONN_KAFKA_WATCHER ?= {"conn_type": "kafka", "extra": {"bootstrap.servers": "localhost:$(KAFKA_PORT)", $(WATCHER_EXTRA)}}
export AIRFLOW_CONN_WEBHDFS_DEFAULT ?= {"conn_type": "webhdfs", "host": "localhost", "port": $(NAMENODE_HTTP_PORT), "login": "$(HDFS_USER)", "extra": {"hdfs_uri": "hdfs://localhost:$(NAMENODE_RPC_PORT)"}}
# Spark: SPARK_MASTER=local (local[*] in the driver, the default) or yarn (the single profile's YARN, which `make up`
# then starts; SPARK_DEPLOY_MODE=client or cluster); the same as devstack/nodes.py spark_on_yarn_env
SPARK_MASTER ?= local
SPARK_DEPLOY_MODE ?= client
ifeq ($(SPARK_MASTER),yarn)
YARN := 1
export HADOOP_CONF_DIR ?= $(STACK_DIR)/conf/hadoop-resourcemanager
export SPARK_CONF_DIR ?= $(STACK_DIR)/conf/spark-yarn
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "$(SPARK_DEPLOY_MODE)", "spark-binary": "spark-submit", "yarn_resourcemanager_webapp_address": "http://localhost:$(shell echo $$(( $(YARN_PORT_BASE) + 88 )))"}}
else ifeq ($(SPARK_MASTER),local)
# the Spark driver's class-data-sharing archive (devstack/cds.py), when `make setup` has built one: through the
# environment, not SPARK_CONF_DIR (a folder first on the driver's classpath makes the JVM refuse the archive)
ifndef SPARK_SUBMIT_OPTS
SPARK_SUBMIT_OPTS := $(shell [ -x $(PY) ] && $(PY) -m devstack.cds --java-option 2>/dev/null)
endif
export SPARK_SUBMIT_OPTS
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "local[*]", "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}
else
$(error SPARK_MASTER must be local or yarn on the single profile, not '$(SPARK_MASTER)')
endif
else ifeq ($(PROFILE),cluster)
# its own Airflow database, so that runs of both profiles never share one SQLite file
AIRFLOW_HOME := $(ROOT)/.airflow/cluster
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(AIRFLOW_HOME)/airflow.db
export AIRFLOW_CONN_KAFKA_DEFAULT ?= {"conn_type": "kafka", "extra": {"bootstrap.servers": "localhost:29092,localhost:29094,localhost:29096"}}
export AIRFLOW_CONN_KAFKA_WATCHER ?= {"conn_type": "kafka", "extra": {"bootstrap.servers": "localhost:29092,localhost:29094,localhost:29096", $(WATCHER_EXTRA)}}
export AIRFLOW_CONN_WEBHDFS_DEFAULT ?= {"conn_type": "webhdfs", "host": "localhost", "port": 29870, "login": "$(HDFS_USER)", "extra": {"hdfs_uri": "hdfs://localhost:28020"}}
# Spark: SPARK_MASTER=standalone (spark://localhost:7077, the default) or yarn (the cluster's YARN, with its
# HADOOP_CONF_DIR); SPARK_DEPLOY_MODE=client (driver here, the default) or cluster (YARN only: driver in a container)
SPARK_MASTER ?= standalone
SPARK_DEPLOY_MODE ?= client
ifeq ($(SPARK_MASTER),yarn)
export HADOOP_CONF_DIR ?= $(STACK_DIR)/cluster/conf/hadoop-resourcemanager
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "yarn", "extra": {"deploy-mode": "$(SPARK_DEPLOY_MODE)", "spark-binary": "spark-submit", "yarn_resourcemanager_webapp_address": "http://localhost:28088"}}
else ifeq ($(SPARK_MASTER),standalone)
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "spark://localhost:7077", "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}
else
$(error SPARK_MASTER must be standalone or yarn, not '$(SPARK_MASTER)')
endif
# spark-submit's defaults for this cluster (executor size), as a gateway machine has them
export SPARK_CONF_DIR ?= $(STACK_DIR)/cluster/conf/spark
else
$(error PROFILE must be single or cluster, not '$(PROFILE)')
endif
export AIRFLOW_HOME
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db

# The secure Kafka listeners (SASL_SSL localhost:9093, mTLS localhost:9094, ACLs): on unless `make up SECURE=0`. Its
# connections kafka_secure_admin / _writer / _reader and kafka_mtls_writer come from this backend, which reads the 0600 secrets file under .stack/
# (no password here, in the environment or on any command line). It is the local stack's convenience: a
# deployment configures its own secrets backend (a vault) with connections of the same shape.
SECURE ?= 1
export KAFKA_SECURE := $(SECURE)
export AIRFLOW__SECRETS__BACKEND ?= devstack.secrets_backend.LocalKafkaSecretsBackend
# What a run's params may reach is the deployment's ([kafka_spark_airflow], docs/security.md). The defaults hold
# here (source_csv from include/data/ or $(AIRFLOW_HOME)/landing/); the stack's own folder, where its secrets
# are, is denied even should a wider folder be allowed.
export AIRFLOW__KAFKA_SPARK_AIRFLOW__DENIED_SOURCE_DIRS ?= $(STACK_DIR)

# the single profile's on-demand YARN: `make up YARN=1` starts it too (SPARK_MASTER=yarn implies it)
YARN ?= 0

DAG ?= write_to_kafka
CONF ?= {}
PYTEST_ARGS ?=
BENCH_ROWS ?= 2000000

.PHONY: single-only help setup up down status reset run demo ui ui-stop test test-unit test-integration test-faults test-long test-events test-yarn test-cluster lint format lock clean bench

# demo, ui, test, test-faults and bench talk to the single-node stack's addresses (their tests and scripts)
single-only:
	@if [ "$(PROFILE)" != single ]; then echo "this target is for the single-node profile; on the cluster: make run PROFILE=cluster, make test-cluster" >&2; exit 2; fi

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## install what is missing: Debian packages, .venv, the stack's jars, Airflow's database
	@bash devstack/setup.sh

up: setup ## start Kafka (localhost:9092, SASL_SSL 9093 + mTLS 9094 unless SECURE=0) and HDFS (WebHDFS 9870); YARN=1: + YARN (RM localhost:18088); PROFILE=cluster: the cluster
	@$(DEVSTACK) up
	@if [ "$(YARN)" = 1 ]; then $(DEVSTACK) up yarn; fi
	@$(DEVSTACK) cds --on-stack

down: ## stop the services this project started (under supervisord), within a deadline; PROFILE=cluster: the cluster's
	@if [ -x $(PY) ]; then $(DEVSTACK) down; else echo "down: no .venv, so no supervisord of this project runs"; fi

status: ## show each service: up or down, PID, ports, log, addresses (exit 3 when one is down)
	@if [ -x $(PY) ]; then $(DEVSTACK) status; else echo "status: no .venv - run 'make setup'" >&2; exit 3; fi

reset: ## stop the stack and delete its data and logs (jars and .venv are kept)
	@if [ -x $(PY) ]; then $(DEVSTACK) reset; else echo "reset: no .venv - run 'make setup' first" >&2; exit 1; fi
	@rm -rf $(AIRFLOW_HOME)

run: up ## one DAG run: make run DAG=<dag_id> CONF='<json>' (airflow dags test; non-zero when the run fails)
	@$(VENV)/bin/airflow dags test "$(DAG)" --conf '$(CONF)'

demo: single-only up ## the tutorial end to end: write players.csv to Kafka, then read the topic to HDFS, and show both
	@$(DEVSTACK) demo

ui: single-only up ## Airflow UI on http://localhost:8080 + scheduler, dag-processor, triggerer (LocalExecutor); harmless when up
	@$(DEVSTACK) ui start

ui-stop: ## stop what 'make ui' started (its supervisord, and what its components started), within 60 s
	@if [ -x $(PY) ]; then $(DEVSTACK) ui stop; else echo "ui: no .venv, so no UI of this project runs"; fi

test: single-only up ## all tests on the real stack (unit, DAG integrity, integration) but the long fault scenarios (make test-long)
	@$(PY) -m pytest -m "not long" $(PYTEST_ARGS)

test-long: single-only up ## the long fault scenarios only (~15 min: 2M-row kills, broker outages, task timeouts; opt-in, like test-cluster)
	@start=$$(date +%s); $(PY) -m pytest -m long $(PYTEST_ARGS); rc=$$?; \
	  echo "test-long: pytest exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc

test-faults: single-only up ## every fault scenario (kill -9, dead broker/DataNode, hostile rows, timeouts), the long ones included
	@$(PY) -m pytest tests/integration/test_faults.py $(PYTEST_ARGS)

test-events: single-only up ## opt-in: read_from_kafka started by its asset watcher under make ui (bursts, triggerer kill, pause); owns kafka-new-topic (~15 min)
	@start=$$(date +%s); $(PY) -m pytest tests/events $(PYTEST_ARGS); rc=$$?; \
	  echo "test-events: pytest exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc

test-yarn: single-only up ## opt-in: the DAGs on the single profile's YARN (started for it, stopped after unless it was up): SASL_SSL in cluster deploy mode, the secret nowhere; 'mark failed' under make ui kills the application (~5 min)
	@was_up=0; $(DEVSTACK) status yarn >/dev/null 2>&1 && was_up=1; $(DEVSTACK) up yarn || exit 1; \
	  start=$$(date +%s); $(PY) -m pytest tests/yarn $(PYTEST_ARGS); rc=$$?; \
	  if [ $$was_up = 0 ]; then $(DEVSTACK) down yarn; fi; \
	  echo "test-yarn: pytest exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc

test-unit: setup ## pure tests only (no services)
	@$(PY) -m pytest tests/unit tests/dags $(PYTEST_ARGS)

test-cluster: up ## the DAGs on the cluster profile (standalone and YARN) and the node losses they survive (~45 min; starts the cluster)
	@start=$$(date +%s); $(PY) -m pytest tests/cluster $(PYTEST_ARGS); rc=$$?; \
	  echo "test-cluster: pytest exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc


bench: single-only up ## measure the pipeline against Kafka's own perf tools, local[*] and YARN (~35-50 min, BENCH_ROWS=2000000; BENCH_STAGES=yarn,...): bench/results/
	@$(PY) -m bench.run --rows $(BENCH_ROWS)

lint: setup ## ruff check + format check + the import contracts (pyproject.toml: what a deployment runs never imports devstack/)
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache

format: setup ## ruff fix + format
	@$(VENV)/bin/ruff check --fix . ; $(VENV)/bin/ruff format .

lock: ## regenerate constraints.txt from the current .venv
	@{ echo '# Generated by `make lock` (pip freeze of a working .venv). Do not edit by hand.'; $(PY) -m pip freeze --exclude-editable; } > constraints.txt

clean: ## stop both profiles' services and remove everything generated (.venv, .stack, .airflow)
	@$(MAKE) --no-print-directory down PROFILE=single
	@$(MAKE) --no-print-directory down PROFILE=cluster
	@rm -rf $(VENV) $(STACK_DIR) $(ROOT)/.airflow $(AIRFLOW_HOME)
