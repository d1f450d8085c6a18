"""One check's outcome, and how the report a student reads shows it."""
from dataclasses import asdict, dataclass


@dataclass
class Result:
    check: str
    passed: bool
    message: str
    points: float = 1.0   # 0: advice, never failing a grade
    worst: str = ""       # where the largest disagreement is, when one is measured

    def as_dict(self):
        return asdict(self)


def report(result, say):
    tag = "ok  " if result.passed and result.points else "note" if not result.points else "FAIL"
    say(f"  {tag}  {result.message}")
    return result


def verdict(results, say):
    """The report's last line for a set of checks: PASSED when every one passed, else FAILED."""
    say("PASSED" if all(r.passed for r in results) else "FAILED")
    return results


def failure(check, error, what, points=1.0):
    """The student's code raised: a failed check that says where and what."""
    return Result(check, False, f"{what}: {type(error).__name__}: {error}", points)
