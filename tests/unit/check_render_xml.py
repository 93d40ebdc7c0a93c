#!/usr/bin/env python3
"""check_render_xml.py: reads every page (.html) and plot (.svg) that
test_web_render wrote with Python's XML parser: each must be well-formed XML;
each plot an <svg> root with width, height and viewBox; no page or plot may hold
a <script> element or an on* attribute (the hostile names must stay text)."""
import os
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def main() -> int:
    folder = sys.argv[1]
    names = sorted(n for n in os.listdir(folder) if n.endswith((".svg", ".html")))
    problems = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            problems.append(f"{name}: not well-formed: {e}")
            continue
        if name.endswith(".svg"):
            if root.tag != SVG + "svg":
                problems.append(f"{name}: root is {root.tag}")
            for attr in ("width", "height", "viewBox"):
                if attr not in root.attrib:
                    problems.append(f"{name}: <svg> without {attr}")
        elif root.tag != "html":
            problems.append(f"{name}: root is {root.tag}")
        for el in root.iter():
            if el.tag.rsplit("}", 1)[-1].lower() == "script":
                problems.append(f"{name}: a <script> element")
            for attr in el.attrib:
                if attr.lower().startswith("on"):
                    problems.append(f"{name}: attribute {attr}")
    if len(names) < 6:
        problems.append(f"only {len(names)} files in {folder}")
    for p in problems:
        print(p)
    print(f"check_render_xml: {len(names)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
