import os
import sys

# Make the helpers next to the tests (reference implementations) importable.
sys.path.insert(0, os.path.dirname(__file__))
