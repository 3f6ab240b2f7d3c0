"""The report's style sheet (inline: the page needs no other file)."""

CSS = """
:root{--ink:#1f2933;--muted:#52606d;--line:#e4e7eb;--bg:#f3f5f8;--accent:#2f6fba;--soft:#f7f9fb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.45;
 font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 40px 48px;background:#fff;min-height:100vh}
.kicker{margin:0;color:var(--accent);font-size:.78rem;letter-spacing:.08em;text-transform:uppercase;font-weight:600}
h1{font-size:1.9rem;margin:.15rem 0 .3rem}
h2{font-size:1.35rem;margin:2.4rem 0 .8rem;padding-bottom:.35rem;border-bottom:2px solid var(--line)}
h3{font-size:1.02rem;margin:1.6rem 0 .5rem}
p{margin:.5rem 0}
.desc{color:var(--muted);font-size:1.05rem;margin:.2rem 0 1rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:.25rem 1.2rem;margin:0;
 font-size:.86rem;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;font-size:.82em}
nav.toc{margin:1.2rem 0 0;padding:.55rem 0;border-top:1px solid var(--line);border-bottom:1px solid var(--line);font-size:.9rem}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:1.3rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;margin:.6rem 0 1rem}
.card{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.7rem .9rem;background:var(--soft)}
.card-label{font-size:.8rem;color:var(--muted)}
.card-value{font-size:1.55rem;font-weight:650;margin:.1rem 0;font-variant-numeric:tabular-nums}
.card-band{font-size:.82rem;color:var(--muted);font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:.84rem;margin:.4rem 0 .8rem}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);padding:5px 8px;white-space:nowrap}
td{padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:baseline}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:#f0f5fb}
td.gate{text-align:center;color:var(--muted)}
tr.section td{background:var(--soft);color:var(--ink);padding-top:8px;font-size:.82rem}
table.inputs td:first-child,table.fixed td:first-child{overflow-wrap:anywhere}
details{margin:1rem 0;border:1px solid var(--line);border-radius:6px;padding:.4rem .8rem}
details summary{cursor:pointer;font-weight:600;color:var(--accent);padding:.2rem 0}
figure{margin:1.1rem 0 1.8rem}
figure img{display:block;max-width:100%;height:auto;margin:0 auto;border:1px solid var(--line);border-radius:4px}
figcaption{font-size:.84rem;color:var(--muted);margin-top:.45rem}
.note{background:#fffbea;border-left:4px solid #f0b429;padding:.5rem .8rem;font-size:.88rem}
.note-small{font-size:.82rem;color:var(--muted)}
footer{margin-top:3rem;padding-top:.8rem;border-top:1px solid var(--line);font-size:.78rem;color:var(--muted)}
@media print{body{background:#fff}main{padding:0}figure{break-inside:avoid}}
"""
