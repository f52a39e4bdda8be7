"""Build the small CJK font that the explain figures use for Chinese labels.

matplotlib's default font (DejaVu Sans) has no Chinese glyphs, so Chinese figure labels would
be drawn as empty boxes.  This script cuts Noto Sans CJK SC Regular and Bold (SIL Open Font
License 1.1) down to the characters that the explain catalogue uses, plus printable ASCII and the
symbols the figures draw, renames the family (the licence reserves the original names for
unmodified fonts) and writes it, with the licence text, to ``src/convlearn/explain/fonts/``.

Run it again whenever the catalogue (``src/convlearn/explain/i18n.py``) gains new characters::

    apt-get install fonts-noto-cjk     # Debian/Ubuntu: NotoSansCJK-Regular.ttc and -Bold.ttc
    pip install fonttools              # only needed here, not by convlearn itself
    python tools/build_font_subset.py  # or: --source-dir FOLDER/WITH/THE/TTC/FILES

The test ``tests/test_explain_fonts.py`` fails when a character of the catalogue is missing
from the shipped font.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FONT_DIR = os.path.join(ROOT, "src", "convlearn", "explain", "fonts")
sys.path.insert(0, os.path.join(ROOT, "src"))

from convlearn.explain.i18n import FONT_FAMILY, FONT_FILES, font_chars  # noqa: E402
from convlearn.explain.render_figures import write_atomic  # noqa: E402

SOURCE_DIRS = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts/google-noto-cjk",
)
SOURCE_FAMILY = "Noto Sans CJK SC"

LICENSE_HEADER = """\
{family} ({files})
is a subset of Noto Sans CJK SC Regular and Bold, cut down by
tools/build_font_subset.py to the characters that convlearn's explain catalogue uses, and
renamed as the licence below asks of modified versions.

Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font Name 'Source'.
Noto is a trademark of Google Inc.

This Font Software is licensed under the SIL Open Font License, Version 1.1.
This license is copied below, and is also available with a FAQ at:
https://openfontlicense.org

"""

OFL_TEXT = """\
-----------------------------------------------------------
SIL OPEN FONT LICENSE Version 1.1 - 26 February 2007
-----------------------------------------------------------

PREAMBLE
The goals of the Open Font License (OFL) are to stimulate worldwide
development of collaborative font projects, to support the font creation
efforts of academic and linguistic communities, and to provide a free and
open framework in which fonts may be shared and improved in partnership
with others.

The OFL allows the licensed fonts to be used, studied, modified and
redistributed freely as long as they are not sold by themselves. The
fonts, including any derivative works, can be bundled, embedded,
redistributed and/or sold with any software provided that any reserved
names are not used by derivative works. The fonts and derivatives,
however, cannot be released under any other type of license. The
requirement for fonts to remain under this license does not apply
to any document created using the fonts or their derivatives.

DEFINITIONS
"Font Software" refers to the set of files released by the Copyright
Holder(s) under this license and clearly marked as such. This may
include source files, build scripts and documentation.

"Reserved Font Name" refers to any names specified as such after the
copyright statement(s).

"Original Version" refers to the collection of Font Software components as
distributed by the Copyright Holder(s).

"Modified Version" refers to any derivative made by adding to, deleting,
or substituting -- in part or in whole -- any of the components of the
Original Version, by changing formats or by porting the Font Software to a
new environment.

"Author" refers to any designer, engineer, programmer, technical
writer or other person who contributed to the Font Software.

PERMISSION & CONDITIONS
Permission is hereby granted, free of charge, to any person obtaining
a copy of the Font Software, to use, study, copy, merge, embed, modify,
redistribute, and sell modified and unmodified copies of the Font
Software, subject to the following conditions:

1) Neither the Font Software nor any of its individual components,
in Original or Modified Versions, may be sold by itself.

2) Original or Modified Versions of the Font Software may be bundled,
redistributed and/or sold with any software, provided that each copy
contains the above copyright notice and this license. These can be
included either as stand-alone text files, human-readable headers or
in the appropriate machine-readable metadata fields within text or
binary files as long as those fields can be easily viewed by the user.

3) No Modified Version of the Font Software may use the Reserved Font
Name(s) unless explicit written permission is granted by the corresponding
Copyright Holder. This restriction only applies to the primary font name as
presented to the users.

4) The name(s) of the Copyright Holder(s) or the Author(s) of the Font
Software shall not be used to promote, endorse or advertise any
Modified Version, except to acknowledge the contribution(s) of the
Copyright Holder(s) and the Author(s) or with their explicit written
permission.

5) The Font Software, modified or unmodified, in part or in whole,
must be distributed entirely under this license, and must not be
distributed under any other license. The requirement for fonts to
remain under this license does not apply to any document created
using the Font Software.

TERMINATION
This license becomes null and void if any of the above conditions are
not met.

DISCLAIMER
THE FONT SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO ANY WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT
OF COPYRIGHT, PATENT, TRADEMARK, OR OTHER RIGHT. IN NO EVENT SHALL THE
COPYRIGHT HOLDER BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
INCLUDING ANY GENERAL, SPECIAL, INDIRECT, INCIDENTAL, OR CONSEQUENTIAL
DAMAGES, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
FROM, OUT OF THE USE OR INABILITY TO USE THE FONT SOFTWARE OR FROM
OTHER DEALINGS IN THE FONT SOFTWARE.
"""


def _find_source(folder: str | None, style: str) -> str:
    name = f"NotoSansCJK-{style}.ttc"
    for cand in [folder] if folder else SOURCE_DIRS:
        path = os.path.join(cand, name)
        if os.path.isfile(path):
            return path
    sys.exit(f"{name} not found; install it (Debian/Ubuntu: apt-get install fonts-noto-cjk) or pass --source-dir")


def _open_sc(path: str):
    """Open the Simplified Chinese face of the collection (or the file itself if it is one font)."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.lower().endswith((".ttc", ".otc")):
        for font in TTCollection(path, lazy=False).fonts:
            if font["name"].getDebugName(1) == SOURCE_FAMILY:
                return font
        sys.exit(f"no '{SOURCE_FAMILY}' face in {path}")
    return TTFont(path)


def _rename(font, style: str) -> None:
    """Give the subset its own names (OFL: modified versions must not use reserved names)."""
    ps_name = FONT_FAMILY.replace(" ", "") + "-" + style
    name = font["name"]
    version = name.getDebugName(5) or ""
    for rec in list(name.names):
        if rec.nameID in (1, 3, 4, 6, 16, 17, 18, 21, 22) or rec.nameID >= 256:
            name.removeNames(nameID=rec.nameID)
    for plat, enc, lang in ((3, 1, 0x409), (1, 0, 0)):
        name.setName(FONT_FAMILY, 1, plat, enc, lang)
        name.setName(style, 2, plat, enc, lang)
        name.setName(f"{ps_name};{version}", 3, plat, enc, lang)
        name.setName(f"{FONT_FAMILY} {style}", 4, plat, enc, lang)
        name.setName(f"{version}; subset for convlearn", 5, plat, enc, lang)
        name.setName(ps_name, 6, plat, enc, lang)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [ps_name]
        top = cff.topDictIndex[0]
        for attr, value in (("FamilyName", FONT_FAMILY), ("FullName", f"{FONT_FAMILY} {style}")):
            if hasattr(top, attr):
                setattr(top, attr, value)
        if hasattr(top, "FDArray"):
            for fd in top.FDArray:
                if hasattr(fd, "FontName"):
                    fd.FontName = ps_name


def _build(source: str, style: str, chars: str, out: str) -> int:
    import io

    from fontTools import subset

    font = _open_sc(source)
    cmap = font.getBestCmap()
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        sys.exit(
            "the source font lacks these characters: " + " ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            + "\nrewrite those catalogue entries with other characters"
        )
    options = subset.Options()
    options.layout_features = ["kern", "liga", "locl", "halt", "palt"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    _rename(font, style)
    font.recalcTimestamp = False  # the same input gives the same bytes
    buf = io.BytesIO()
    font.save(buf)
    write_atomic(out, buf.getvalue())
    return len(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", help="folder holding NotoSansCJK-Regular.ttc and NotoSansCJK-Bold.ttc")
    parser.add_argument("--out-dir", default=FONT_DIR, help="where to write the fonts and their licence")
    args = parser.parse_args(argv)

    chars = font_chars()
    os.makedirs(args.out_dir, exist_ok=True)
    for style, filename in FONT_FILES.items():
        out = os.path.join(args.out_dir, filename)
        size = _build(_find_source(args.source_dir, style), style, chars, out)
        print(f"{filename}: {len(chars)} characters, {size} bytes")
    text = LICENSE_HEADER.format(family=FONT_FAMILY, files=", ".join(FONT_FILES.values())) + OFL_TEXT
    write_atomic(os.path.join(args.out_dir, "OFL.txt"), text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
