"""SVG charts of a scenario's results (no plotting library needed)."""


def bar_chart(path, title, categories, series, unit):
    """Grouped bars: one group per category, one bar per series."""
    colours = ["#3b6fb6", "#d9822b", "#4a9b5f", "#b64a4a", "#7f5fb6"]
    width, height, left, bottom, top = 760, 360, 70, 60, 40
    plot_w, plot_h = width - left - 20, height - top - bottom
    peak = max([v for vals in series.values() for v in vals if v is not None] + [1e-9]) * 1.15
    group_w = plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for i in range(6):
        y = top + plot_h - plot_h * i / 5
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{peak * i / 5:.3g}</text>')
    out.append(f'<text x="16" y="{top + plot_h / 2}" transform="rotate(-90 16 {top + plot_h / 2})" '
               f'text-anchor="middle">{unit}</text>')
    for gi, cat in enumerate(categories):
        gx = left + gi * group_w + group_w * 0.1
        for si, (name, vals) in enumerate(series.items()):
            v = vals[gi]
            if v is None:
                continue
            h = plot_h * v / peak
            x = gx + si * bar_w
            out.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                       f'fill="{colours[si % len(colours)]}"><title>{name}: {v:.4g}</title></rect>')
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
                       f'font-size="10">{v:.3g}</text>')
        out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" '
                   f'text-anchor="middle">{cat}</text>')
    for si, name in enumerate(series):
        x = left + si * 170
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colours[si % len(colours)]}"/>')
        out.append(f'<text x="{x + 16}" y="{height - 12}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))
