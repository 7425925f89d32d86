import sys

from desktop.app.main import run

sys.exit(run(sys.argv[1:]))
