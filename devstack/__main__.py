"""`python -m include.stack up|down|status|reset|jars|kafka <tool>|hdfs-dfs`: see services.py."""

import sys

from include.stack.services import main

sys.exit(main())
