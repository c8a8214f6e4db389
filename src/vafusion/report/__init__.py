"""Reports: stress summary, plots, self-contained HTML, safe output files."""
