"""Build the installable add-on: `python plugin/blender/build_zip.py [OUT_DIR]` -> cotvtm_blender.zip
(Blender: Edit › Preferences › Add-ons › Install from Disk)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE.parent / "common" / "cotvtm_child.py"  # the child-process client the Resolve script shares


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "cotvtm_blender.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((HERE / "cotvtm_blender").glob("*.py")):
            archive.write(path, f"cotvtm_blender/{path.name}")
        archive.write(SHARED, "cotvtm_blender/cotvtm_child.py")
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("dist")))
