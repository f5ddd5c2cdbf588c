#!/usr/bin/env bash
# Regenerate the README's before/after pictures and its printed output by running the quickstart's main
# command itself (no hand-made images): before = the bundled sample, after = what `productshot run` wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir=docs/images
mkdir -p "$out_dir" out
export PRODUCTSHOT_HOME="${PRODUCTSHOT_HOME:-$(mktemp -d)}"

request="put this cup on a simple beach scene, bottom-left"
.venv/bin/productshot run "$request" --image sample:coffee -o out/shot.png | tee out/run.txt

.venv/bin/python - "$out_dir" <<'PY'
import sys
from pathlib import Path

from PIL import Image

from productshot.tools.imageio import load_sample

out = Path(sys.argv[1])
load_sample("coffee").convert("RGB").save(out / "before.jpg", quality=88)
with Image.open("out/shot.png") as shot:
    shot.convert("RGB").save(out / "after.jpg", quality=88)
PY

# Put the printed summary into the README between its markers.
.venv/bin/python - <<'PY'
import re
from pathlib import Path

readme = Path("README.md")
printed = Path("out/run.txt").read_text().strip()
text = readme.read_text()
text = re.sub(
    r"(<!-- run-output -->\n```\n).*?(\n```\n<!-- /run-output -->)",
    lambda m: m.group(1) + printed + m.group(2),
    text,
    flags=re.S,
)
readme.write_text(text)
PY
echo "updated $out_dir/before.jpg, $out_dir/after.jpg and README.md"
