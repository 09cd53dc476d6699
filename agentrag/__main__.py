from agentrag.cli import app

app(prog_name="agentrag")
