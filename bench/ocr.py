"""OCR time per photo: what the offline bot spends reading a tracking number on a customer's photo.

    .venv/bin/python bench/ocr.py [--runs 5] [--threads 1] [--concurrency 1 2 4] [--batch 8]

Renders three photos in a temporary directory: a label as a screenshot or scan (900 x 420 PNG), a phone photo of a
label on a desk (3024 x 4032 JPEG, the label in the middle, some noise), and a photo with words and no number. It
prints the engine's cold start (import and model load, once per process), then for each photo the time of
`ventanilla.bot.ocr.read_text` (decode, scale, detect, recognize) over `--runs` runs (wall p50 and max, and the
process's CPU time, which other load on the machine does not inflate) and the tracking numbers read. Last,
`--batch` phone photos read at once through `PhotoReader` at each `--concurrency`: wall time and photos per second,
the CPU-bound ceiling of one process. `--threads` sets the onnxruntime threads of one reading (the bot uses
`THREADS_PER_PHOTO`).

Needs the `ocr` extra (`pip install -e '.[ocr]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ventanilla.bot import ocr
from ventanilla.bot.intents import tracking_numbers

NUMBER = "ABC123456"


def label(number: str) -> Image.Image:
    image = Image.new("RGB", (900, 420), "white")
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=48), ImageFont.load_default(size=28)
    draw.rectangle((8, 8, 892, 412), outline="black", width=4)
    draw.text((40, 36), "ENVIOS DEL PACIFICO", font=small, fill="black")
    draw.text((40, 110), f"Guia: {number}", font=big, fill="black")
    draw.text((40, 220), "Destino: Guayaquil  Tel 0991234567", font=small, fill="black")
    draw.text((40, 270), "Peso: 2 kg  Ref: PQR77777", font=small, fill="black")
    return image


def phone_photo(number: str) -> Image.Image:
    rng = random.Random(7)
    desk = Image.effect_noise((3024, 4032), 40).convert("RGB").filter(ImageFilter.GaussianBlur(3))
    desk = Image.blend(desk, Image.new("RGB", desk.size, (150, 120, 90)), 0.6)
    sticker = label(number).resize((1800, 840)).rotate(rng.uniform(-3, 3), expand=True, fillcolor=(150, 120, 90))
    desk.paste(sticker, ((3024 - sticker.width) // 2, (4032 - sticker.height) // 2))
    return desk


def words_only() -> Image.Image:
    image = Image.new("RGB", (1200, 900), (235, 235, 225))
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(["Feliz cumpleaños", "Te esperamos el sábado", "a las 19:00"]):
        draw.text((80, 200 + 120 * n), line, font=ImageFont.load_default(size=64), fill="black")
    return image


def write(directory: Path) -> dict[str, Path]:
    files = {
        "label 900x420 PNG": (label(NUMBER), "PNG"),
        "phone photo 3024x4032 JPEG": (phone_photo(NUMBER), "JPEG"),
        "words, no number 1200x900 JPEG": (words_only(), "JPEG"),
    }
    paths = {}
    for n, (name, (image, kind)) in enumerate(files.items()):
        path = directory / f"{n}.{kind.lower()}"
        image.save(path, kind, quality=90)
        paths[name] = path
    return paths


async def batch(path: Path, count: int, concurrency: int) -> float:
    reader = ocr.PhotoReader(concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(reader.read(path) for _ in range(count)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=ocr.THREADS_PER_PHOTO)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    ocr.THREADS_PER_PHOTO = args.threads
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.threads} onnxruntime thread(s) a photo"
    )
    started = time.perf_counter()
    if not ocr.available():
        raise SystemExit("the ocr extra is not installed: pip install -e '.[ocr]'")
    print(f"cold start (import + models): {time.perf_counter() - started:.2f} s")
    with tempfile.TemporaryDirectory() as directory:
        paths = write(Path(directory))
        for name, path in paths.items():
            times, cpu, found = [], [], []
            for _ in range(args.runs):
                begun, begun_cpu = time.perf_counter(), time.process_time()
                text = ocr.read_text(path) or ""
                times.append(time.perf_counter() - begun)
                cpu.append(time.process_time() - begun_cpu)
                found = tracking_numbers(text, printed=True)
            print(
                f"{name:32} p50 {statistics.median(times) * 1000:6.0f} ms  max {max(times) * 1000:6.0f} ms  "
                f"CPU p50 {statistics.median(cpu) * 1000:6.0f} ms  numbers read: {', '.join(found) or 'none'}"
            )
        photo = paths["phone photo 3024x4032 JPEG"]
        for concurrency in args.concurrency:
            wall = asyncio.run(batch(photo, args.batch, concurrency))
            print(
                f"{args.batch} phone photos, {concurrency} at once: {wall:.2f} s, {args.batch / wall:.2f} photos/s, "
                f"{wall / args.batch * 1000:.0f} ms per photo"
            )


if __name__ == "__main__":
    main()
