"""XMP packets: a flat ``{prefix:name: [values]}`` view, plus the Draw Things generator record.

XMP is RDF/XML; writers differ in whether a property is an attribute, an element, an ``rdf:Alt`` list or an
``rdf:resource``. We flatten all of those into lists of strings keyed by the usual prefix, which is what
provenance needs (``xmp:CreatorTool``, ``Iptc4xmpExt:DigitalSourceType``, ``dc:description``,
``dcterms:provenance``). Documents with a DOCTYPE are refused: XMP never needs entities, and expanding
them is how XML bombs work.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PREFIXES = {
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.google.com/photos/1.0/creations/": "GCreations",
}


@dataclass(slots=True)
class XmpInfo:
    values: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def first(self, key: str) -> str | None:
        vals = self.values.get(key)
        return vals[0] if vals else None


def _qname(tag: str) -> str:
    if tag.startswith("{"):
        uri, local = tag[1:].split("}", 1)
        return f"{PREFIXES.get(uri, uri)}:{local}"
    return tag


def parse_xmp(packets: list[str]) -> XmpInfo:
    """Flatten every XMP packet; malformed packets become notes."""
    info = XmpInfo()
    for i, text in enumerate(packets):
        start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
        doc = text[start : end + len("</x:xmpmeta>")] if start >= 0 and end > start else text.strip().strip("\x00")
        if "<!DOCTYPE" in doc or "<!ENTITY" in doc:
            info.notes.append(f"xmp: packet {i} declares a DOCTYPE/ENTITY; refused")
            continue
        try:
            root = ET.fromstring(doc)
        except ET.ParseError as exc:
            info.notes.append(f"xmp: packet {i} is not well-formed XML ({exc})")
            continue
        for desc in root.iter(f"{{{RDF}}}Description"):
            for attr, value in desc.attrib.items():
                if not attr.startswith(f"{{{RDF}}}"):
                    info.values.setdefault(_qname(attr), []).append(value)
            for prop in desc:
                _collect(prop, info)
    return info


def _collect(prop: ET.Element, info: XmpInfo) -> None:
    key = _qname(prop.tag)
    resource = prop.attrib.get(f"{{{RDF}}}resource")
    if resource:
        info.values.setdefault(key, []).append(resource)
    lis = list(prop.iter(f"{{{RDF}}}li"))
    if lis:
        for li in lis:
            if li.text and li.text.strip():
                info.values.setdefault(key, []).append(li.text.strip())
    elif prop.text and prop.text.strip():
        info.values.setdefault(key, []).append(prop.text.strip())
    for child in prop:  # struct-valued properties (e.g. an ArtworkOrObject) keep their leaves by name
        if child.tag not in (f"{{{RDF}}}Alt", f"{{{RDF}}}Seq", f"{{{RDF}}}Bag", f"{{{RDF}}}li"):
            _collect(child, info)
        elif child.tag != f"{{{RDF}}}li":
            for li in child:
                for sub in li:
                    _collect(sub, info)


def parse_drawthings(info: XmpInfo) -> ParseResult:
    """Draw Things writes ``xmp:CreatorTool = Draw Things`` and a JSON ``exif:UserComment`` with ``c`` (prompt),
    ``uc`` (negative prompt), ``model``, ``seed``, ``steps``, ``scale``, ``sampler``, ``size`` and ``lora``."""
    tool = info.first("xmp:CreatorTool") or ""
    comment = info.first("exif:UserComment")
    if "draw things" not in tool.lower():
        return None, []
    notes: list[str] = []
    prov = Provenance(family="drawthings", generator="Draw Things", evidence="Draw Things generation metadata")
    where = "xmp[exif:UserComment]"
    d: dict = {}
    if comment:
        try:
            loaded = json.loads(comment)
            d = loaded if isinstance(loaded, dict) else {}
        except ValueError as exc:
            notes.append(f"drawthings: {where} is not valid JSON ({str(exc)[:60]})")
    add_prompt(prov.positive_prompts, d.get("c"))
    add_prompt(prov.negative_prompts, d.get("uc"))
    if not prov.positive_prompts:
        desc = info.first("dc:description")
        if desc:
            add_prompt(prov.positive_prompts, desc.split("\nNegative prompt:", 1)[0])
            prov.sources["positive_prompts"] = "xmp[dc:description]"
    prov.model = to_str(d.get("model"))
    prov.seed, prov.steps = to_int(d.get("seed")), to_int(d.get("steps"))
    prov.cfg = to_float(d.get("scale"))
    prov.sampler = to_str(d.get("sampler"))
    size = str(d.get("size", ""))
    if "x" in size:
        w, _, h = size.partition("x")
        prov.width, prov.height = to_int(w), to_int(h)
    for lora in d.get("lora") or []:
        if isinstance(lora, dict) and isinstance(lora.get("file"), str):
            prov.loras.append(LoraRef(name=lora["file"], weight=to_float(lora.get("weight"))))
    if d:
        prov.sources["parameters"] = where
        if d.get("c"):
            prov.sources["positive_prompts"] = where
        if d.get("uc"):
            prov.sources["negative_prompts"] = where
    return prov, notes
