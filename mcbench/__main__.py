from mcbench.cli import main
import sys

sys.exit(main())
