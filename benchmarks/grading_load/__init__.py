"""The parts of benchmarks/annotate_load.py (and benchmarks/soak.py): the loader of its
synthetic benchmark (loader), the server it measures (server), the annotators' HTTP client
(client) and the results table (report).

Importing the package starts Django on the database named by --database-url (read from the
command line before Django reads DATABASE_URL at setup), so it comes first in a script.
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/assessor_load"


def _database_url() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    return parser.parse_known_args()[0].database_url


os.environ["DATABASE_URL"] = _database_url()
os.environ["DEBUG"] = "false"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()
