from evals.cli import eval_app

eval_app(prog_name="python -m evals")
