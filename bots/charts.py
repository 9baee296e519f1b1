"""Charts for chat replies, rendered off-screen to PNG."""

from __future__ import annotations

import io
from functools import cache
from typing import Any


@cache
def _pyplot() -> Any:
    """matplotlib, loaded on the first chart: it costs about 50 MB that most hubs never need."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    from matplotlib import pyplot

    return pyplot


def messages_per_day_chart(per_channel: dict[str, dict[str, int]], days: list[str]) -> bytes:
    """A stacked bar chart of inbound messages per day, one colour per channel."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=110)
    try:
        bottom = [0] * len(days)
        for channel in sorted(per_channel):
            counts = [per_channel[channel].get(day, 0) for day in days]
            axes.bar([d[5:] for d in days], counts, bottom=bottom, label=channel)
            bottom = [b + n for b, n in zip(bottom, counts, strict=True)]
        axes.set_title("Inbound messages per day")
        axes.set_ylabel("messages")
        if per_channel:
            axes.legend(loc="upper left", fontsize="small")
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
