"""The bench's table: on the console (Rich), as Markdown, and the summary lines under it."""

from __future__ import annotations

from typing import Any

from gauntlet.bench.configs import LAYERS

COLUMNS = (
    ("model", "model", "{}"),
    ("data", "data", "{}"),
    ("precision", "precision", "{}"),
    ("compile", "compile", "{}"),
    ("full samples/s", "full_samples_per_s", "{:,.0f}"),
    ("plain samples/s", "plain_samples_per_s", "{:,.0f}"),
    ("ratio", "ratio", "{:.3f}"),
    ("overhead us/step", "overhead_us", "{:+.0f}"),
    ("plain us/step", "plain_step_us", "{:.0f}"),
    ("whole fit x plain", "fit_x", "{:.2f}"),
)


def cells(row: dict[str, Any]) -> list[str]:
    return [fmt.format(row[key]) for _, key, fmt in COLUMNS]


def markdown_table(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| " + " | ".join(title for title, _, _ in COLUMNS) + " |")
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))
    table = Table(
        title=f"gauntlet bench: full training path vs a plain PyTorch loop ({rows[0]['device']})"
    )
    for title, _, _ in COLUMNS:
        table.add_column(title, justify="left" if title in ("model", "data") else "right")
    for row in rows:
        table.add_row(*cells(row))
    console.print(table)
    for row in rows:
        for part in row.get("breakdown", []):
            print(
                f"{row['model']} breakdown: {LAYERS[part['layer']]}: "
                f"{part['step_us']:.0f} us/step, overhead {part['overhead_us']:+.0f} "
                f"({part['adds_us']:+.0f}); whole fit {part['fit_x']:.2f}x plain"
            )
        low, high = row["overhead_us_range"]
        spread = f"rounds {low:+.0f} to {high:+.0f}"
        if row.get("paired"):
            spread += f"; median of paired steps {row['overhead_us_step_median']:+.0f}"
        print(
            f"{row['model']}: full {row['full_samples_per_s']:,.0f} samples/s, "
            f"plain {row['plain_samples_per_s']:,.0f} samples/s, ratio {row['ratio']:.3f}, "
            f"overhead {row['overhead_us']:+.0f} us/step ({spread}) "
            f"({row['timed_steps']} timed steps of batch {row['batch_size']} x {row['rounds']} "
            f"rounds); whole fit {row['full_wall_s']:.1f} s vs {row['plain_wall_s']:.1f} s, "
            f"{row['fit_x']:.2f}x plain"
        )
