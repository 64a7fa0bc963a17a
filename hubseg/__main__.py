from hubseg.cli import app

app(prog_name="hubseg")
