"""Files written by ecgfe: atomic writes, WFDB records, figures and HTML reports."""
