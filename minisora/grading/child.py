"""The grading child: `python -m minisora.grading.child PATH NAME` (isolation.py starts it).

Prints the report lines as the checks run, then the Results as JSON behind the marker the parent
put in MINISORA_GRADING_MARKER."""
import json
import os
import sys

from .checks import grade_file


def main(path, name):
    marker = os.environ["MINISORA_GRADING_MARKER"]
    results = grade_file(path, name or None, say=lambda line: print(line, flush=True))
    print(marker + json.dumps([result.as_dict() for result in results]), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
