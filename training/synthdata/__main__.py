import sys

from training.synthdata.cli import main

sys.exit(main())
