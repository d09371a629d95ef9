"""imagegen: the package every Lambda handler is a few lines on top of.

Four floors, every import pointing down (tests/unit/test_layout.py holds it):

    routes/                          one module per Lambda function: parse -> pick -> run -> answer
    api/  jobs/  analysis/           the HTTP edge (events, fields, forms, answers, Prefer); the job
                                     lifecycle (records, run now / later, outputs, sweeper); ONNX inference
    providers/  images/  aws  bucket  apikeys
                                     wire formats of Bedrock, SageMaker, Replicate; image bytes, masks,
                                     the SSRF-safe fetcher; AWS clients and secrets; the bucket; API keys
    orders  catalog  settings  errors  logs
                                     what a parsed request asks for; the model catalog; every setting
                                     (the only reader of the environment); every exception; logs, metrics

Rules: `errors` imports nothing of the package; only `settings` reads the environment (and `logs`,
Lambda's own variables); providers never import jobs/, api/, routes/ or the bucket; third-party
packages (botocore, replicate, httpx, Pillow, numpy, onnxruntime, multipart) are imported inside the
function that uses them, so a function's cold start pays only for what it uses (aws.py imports
botocore at INIT, as every function that imports it calls AWS; analysis/onnx.py exists to use numpy
and Pillow).
"""

from imagegen import logs, settings

logs.setup(settings.log_level())
