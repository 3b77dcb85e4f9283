"""Draws Gantry's app icon and tray state icons as PNGs.

Run once after changing the design: `python3 icons/draw.py` (needs Pillow).
The PNGs are committed, so building the app needs neither Python nor Pillow.
The glyph is a gantry crane: two legs, a beam, and a load hanging from it.
"""

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SCALE = 4  # draw large, then shrink, for smooth edges

STATES = {
    # name: (dot colour or None, hollow)
    "idle": (None, False),
    "working": ((46, 204, 113), False),
    "paused": ((241, 196, 15), False),
    "error": ((231, 76, 60), False),
    "offline": ((149, 165, 166), True),
}


def glyph(draw, size, colour, inset):
    """The crane: legs, beam, cable and load, inside a square of `size`."""
    s = size
    w = max(1, round(s * 0.09))
    left, right = inset + s * 0.12, s - inset - s * 0.12
    top, bottom = inset + s * 0.18, s - inset - s * 0.08
    draw.rectangle([left, top, right, top + w], fill=colour)  # beam
    draw.rectangle([left, top, left + w, bottom], fill=colour)  # left leg
    draw.rectangle([right - w, top, right, bottom], fill=colour)  # right leg
    mid = (left + right) / 2
    draw.rectangle([mid - w * 0.3, top + w, mid + w * 0.3, top + s * 0.36], fill=colour)
    box = s * 0.2
    draw.rounded_rectangle(
        [mid - box / 2, top + s * 0.36, mid + box / 2, top + s * 0.36 + box],
        radius=box * 0.2,
        fill=colour,
    )


def app_icon(size):
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 0.22, fill=(32, 40, 56, 255))
    glyph(draw, big, (120, 200, 255, 255), big * 0.08)
    return image.resize((size, size), Image.LANCZOS)


def tray_icon(state, size=64):
    dot, hollow = STATES[state]
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = (140, 140, 140, 255) if state == "offline" else (235, 235, 235, 255)
    glyph(draw, big, ink, 0)
    if dot:
        r = big * 0.22
        cx, cy = big - r - 2, big - r - 2
        draw.ellipse([cx - r - 6, cy - r - 6, cx + r + 6, cy + r + 6], fill=(0, 0, 0, 0))
        if hollow:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=dot + (255,), width=round(r * 0.4))
        else:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=dot + (255,))
    return image.resize((size, size), Image.LANCZOS)


def main():
    for size in (32, 128, 256, 512):
        app_icon(size).save(HERE / f"{size}x{size}.png")
    app_icon(512).save(HERE / "icon.png")
    tray = HERE / "tray"
    tray.mkdir(exist_ok=True)
    for state in STATES:
        tray_icon(state).save(tray / f"{state}.png")


if __name__ == "__main__":
    main()
