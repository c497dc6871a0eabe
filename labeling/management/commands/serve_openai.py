from django.core.management.base import BaseCommand

from labeling.openai_server import openai_server_create


class Command(BaseCommand):
    help = (
        "Serve a local causal LM behind an OpenAI-compatible API "
        "(/v1/models, /v1/chat/completions, /v1/completions)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="Registry name or model folder.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed on start).")
        parser.add_argument("--served-model-name", help="The model id clients send (default: --model).")
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1...")
        parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])

    def handle(self, *args, model, host, port, served_model_name, device, dtype, **options):
        server = openai_server_create(
            model_ref=model, host=host, port=port, served_model_name=served_model_name, device=device, dtype=dtype
        )
        # Printed once the socket listens: scripts and tests read the URL (and the port) from it.
        self.stdout.write(f"Serving {server.model_name} at {server.url}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
