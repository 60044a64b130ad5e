"""Status-bar wording for long work: count, rate and time left."""

from __future__ import annotations


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the average rate so far; None until there is a rate to go on."""
    if done <= 0 or total <= 0 or elapsed <= 0 or done >= total:
        return None
    return elapsed / done * (total - done)


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def progress_message(title: str, done: int, total: int, elapsed: float) -> str:
    """``"Scanning: 120 / 4,000 — about 2 min 10 s left"``."""
    if total <= 0:
        return f"{title}: {done:,} found…" if done else f"{title}…"
    text = f"{title}: {done:,} / {total:,}"
    eta = eta_seconds(done, total, elapsed)
    if eta is not None:
        text += f" — about {format_duration(eta)} left"
    return text
