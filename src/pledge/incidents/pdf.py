"""The authority report as a PDF (fpdf2), with a Unicode TrueType font embedded so Vietnamese
diacritics print as they are ("Thông báo vi phạm dữ liệu cá nhân"). Noto Sans comes with the
Debian package fonts-noto-core, which `scripts/ensure-system-deps.sh` installs; DejaVu Sans is
the fallback. Without either, the PDF is refused with a clear error (the HTML page still prints).
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from pledge.incidents.report import Report

FONTS = (
    (
        Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
        Path("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ),
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
)
FAMILY = "ReportSans"


class FontMissing(RuntimeError):
    """No Unicode font with Vietnamese glyphs is installed."""


def _fonts() -> tuple[Path, Path]:
    for regular, bold in FONTS:
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise FontMissing(
        "no Unicode font for the PDF: install the Debian package fonts-noto-core "
        "(scripts/ensure-system-deps.sh)"
    )


def render_pdf(report: Report) -> bytes:
    regular, bold = _fonts()
    pdf = FPDF(format="A4")
    pdf.set_title(report.title)
    pdf.set_lang(report.language)
    pdf.set_creator("Pledge")
    pdf.add_font(FAMILY, "", str(regular))
    pdf.add_font(FAMILY, "B", str(bold))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(width, 8, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(width, 5, report.subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 5, report.generated, new_x="LMARGIN", new_y="NEXT")
    if report.drill:
        pdf.set_font(FAMILY, "B", 11)
        pdf.multi_cell(width, 6, "DRILL / DIỄN TẬP", new_x="LMARGIN", new_y="NEXT")
    for number, item in enumerate(report.items, start=1):
        pdf.ln(3)
        pdf.set_font(FAMILY, "B", 11)
        pdf.multi_cell(width, 6, f"{number}. {item.label}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)
        for line in item.lines:
            pdf.multi_cell(width, 5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
