"""A folder's grades, written three ways: gradebook.csv (a spreadsheet: one row per student and
check), gradebook.json (the same, nested) and gradebook.xml (JUnit XML: one test suite per
student, one test case per check, for classrooms that grade in CI)."""
import csv
import json
import os
from xml.etree import ElementTree


def score(results):
    """(points earned, points possible) over the checks that carry points."""
    counted = [r for r in results if r.points]
    return sum(r.points for r in counted if r.passed), sum(r.points for r in counted)


def write_gradebook(book, exercise, out):
    """`book` maps student -> Results; writes the three files into `out`, returns their paths. Every
    score is out of the exercise's full total (the most any student's checks carry: a file that
    does not load, or never finishes, ran fewer checks but is scored out of all of them)."""
    os.makedirs(out, exist_ok=True)
    total = max(score(results)[1] for results in book.values())
    paths = [os.path.join(out, f"gradebook.{kind}") for kind in ("csv", "json", "xml")]
    with open(paths[0], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "exercise", "check", "passed", "points", "worst", "message", "score", "out_of"])
        for student, results in book.items():
            for r in results:
                writer.writerow([student, exercise, r.check, r.passed, r.points if r.passed else 0, r.worst,
                                 r.message, score(results)[0], total])
    summary = {student: {"passed": all(r.passed for r in results), "score": score(results)[0],
                         "out_of": total, "checks": [r.as_dict() for r in results]}
               for student, results in book.items()}
    with open(paths[1], "w", encoding="utf-8") as handle:
        json.dump({"exercise": exercise, "students": summary}, handle, indent=1)
    suites = ElementTree.Element("testsuites", name=f"minisora check {exercise}")
    for student, results in book.items():
        suite = ElementTree.SubElement(suites, "testsuite", name=student, tests=str(len(results)),
                                       failures=str(sum(not r.passed for r in results)))
        for r in results:
            case = ElementTree.SubElement(suite, "testcase", classname=f"{student}.{exercise}", name=r.check)
            if not r.passed:
                ElementTree.SubElement(case, "failure", message=r.message.splitlines()[0]).text = r.message
    ElementTree.ElementTree(suites).write(paths[2], encoding="utf-8", xml_declaration=True)
    return paths
