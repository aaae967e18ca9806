"""`tasklease ui`: a server-rendered operations console (the optional extra tasklease[ui]).

Importing this package is cheap: the web framework is imported only by ``app`` and by the
command when it runs, so ``tasklease --help`` works without the extra installed.
"""
