"""Write the API's OpenAPI 3.1 contract (src/imagegen/web/openapi.json) from what the code knows.

    python scripts/openapi.py          rewrite the contract
    python scripts/openapi.py --check  exit 1 if the committed contract is stale

What comes from where: the paths, methods and which are authorized from functions/routes.json (the
table Terraform and the local server read); each request body's field names from the route modules'
own field sets (routes.generate.FIELDS, routes.edit.JSON_FIELDS / FORM_FIELDS, routes.analyze's), so
a field the code takes and this file cannot describe stops the generator; limits from orders (MAX_N,
MAX_PROMPT), api.forms (MAX_IMAGES) and api.fields; model names from the catalog (its names and
OpenAI's, which a request may use); the answers' fields from api.answers. What a route is *for*, and
which statuses it answers, is written here once per route (OPERATIONS): a route in routes.json that
is not described here stops the generator too. tests/unit/routes/test_web.py keeps the committed file
equal to this output; tests/integration/test_contract.py runs schemathesis against it.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from imagegen import catalog  # noqa: E402
from imagegen.api import answers, fields, forms  # noqa: E402
from imagegen.orders import MAX_N, MAX_PROMPT  # noqa: E402
from imagegen.routes import analyze, edit, generate, usage  # noqa: E402

ROUTES = ROOT / "functions" / "routes.json"
OUT = ROOT / "src" / "imagegen" / "web" / "openapi.json"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def model_names() -> list[str]:
    return sorted(
        {
            *catalog.models(),
            *(a for m in catalog.models().values() for a in m.aliases),
            *catalog.data()["openai"]["names"],
        }
    )


TEXT = {"type": "string"}
IMAGE_FILE = {
    "type": "string",
    "contentMediaType": "application/octet-stream",
    "description": "a PNG, JPEG or WebP file",
}
BASE64_IMAGE = {"type": "string", "contentEncoding": "base64", "description": "a PNG, JPEG or WebP image, base64"}
HTTPS_URL = {
    "type": "string",
    "format": "uri",
    "maxLength": edit.MAX_URL_LENGTH,
    "description": "an https URL (fetched: public addresses only)",
}
IMAGE_REF = {
    "type": "object",
    "description": "OpenAI's image reference: image_url (https or a data: URL); file_id is refused (no Files API here)",
    "properties": {"image_url": {"type": "string"}, "file_id": {"type": "string"}},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}
END_USER = {"type": "string", "maxLength": 256}


def one_or_many(item: dict) -> dict:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": forms.MAX_IMAGES}]}


# The type of every request field a route takes, by name: a field in a route's set and not here
# stops the generator. Text fields of a form or a query string are strings whatever they carry.
FIELD_TYPES: dict[str, dict] = {
    "webhook": {**HTTPS_URL, "description": "POSTed a signed event (Standard Webhooks) when the job ends"},
    "webhook_events_filter": {
        "type": "array",
        "items": {"enum": ["completed", "succeeded", "failed", "canceled"]},
        "description": "which endings are sent (default completed: all)",
    },
    "prompt": {"type": "string", "minLength": 1, "maxLength": MAX_PROMPT, "pattern": r"\S"},
    "message": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PROMPT,
        "deprecated": True,
        "description": "prompt's older name",
    },
    "negative_prompt": {"type": "string", "maxLength": MAX_PROMPT},
    "provider": {"enum": list(generate.PROVIDERS)},
    "model": ref("ModelName"),
    "width": {"type": "integer", "minimum": 1, "maximum": 99999},
    "height": {"type": "integer", "minimum": 1, "maximum": 99999},
    "steps": {"type": "integer", "minimum": 1, "maximum": 999999999},
    "seed": {"type": "integer", "minimum": 0, "maximum": 999999999},
    "n": {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 1},
    "cfg_scale": {"type": "number"},
    "strength": {"type": "number"},
    "size": {
        "type": "string",
        "pattern": r"^(auto|[0-9]{1,5}x[0-9]{1,5})$",
        "description": "WIDTHxHEIGHT or auto; each model takes its own (GET /v1/models)",
    },
    "response_format": {"enum": list(catalog.RESPONSE_FORMATS)},
    "user": END_USER,
    "safety_identifier": END_USER,
    "quality": {"type": "string"},
    "style": {"not": {}, "description": "no model here has styles: leave it out"},
    "background": {"enum": ["auto", "opaque"]},
    "input_fidelity": {"enum": ["low"]},
    "output_format": {"enum": list(fields.OUTPUT_FORMATS)},
    "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
    "moderation": {"enum": ["auto"]},
    "stream": {"enum": [False], "description": "this API answers whole (no streaming)"},
    "partial_images": {"enum": [0]},
    "input": {"type": "object", "description": "model inputs the deployment lets clients set (replicate.edit_inputs)"},
    "image": one_or_many(BASE64_IMAGE),
    "image_url": one_or_many(HTTPS_URL),
    "images": {"type": "array", "items": IMAGE_REF, "minItems": 1, "maxItems": forms.MAX_IMAGES},
    "mask": {
        "anyOf": [BASE64_IMAGE, IMAGE_REF],
        "description": "a PNG the size of the image, alpha 0 where it may change",
    },
}
FORM_TYPES: dict[str, dict] = {
    "image": IMAGE_FILE,
    "image[]": {"type": "array", "items": IMAGE_FILE, "maxItems": forms.MAX_IMAGES},
    "mask": {**IMAGE_FILE, "description": "a PNG the size of the image, alpha 0 where it may change"},
    "image_url": HTTPS_URL,
    "url": HTTPS_URL,
    "input": {"type": "string", "description": "a JSON object as text"},
}


def body_schema(names, *, form: bool = False, about: str = "") -> dict:
    properties = {}
    for name in sorted(names):
        if form and name in FORM_TYPES:
            properties[name] = FORM_TYPES[name]
        elif name in FIELD_TYPES:
            kind = FIELD_TYPES[name]
            if form and kind.get("type") not in (None, "string"):  # a form's text part is a string, whatever it holds
                kind = {"type": "string"} | {k: v for k, v in kind.items() if k in ("description", "deprecated")}
            properties[name] = kind
        else:
            raise SystemExit(f"scripts/openapi.py: the code takes a field {name!r} that FIELD_TYPES does not describe")
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if about:
        schema["description"] = about
    return schema


def gateway_or_api(description: str) -> dict:
    """A status that API Gateway itself may answer ({"message"}) as well as our code ({"error"})."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"anyOf": [ref("Error"), ref("GatewayError")]}}},
    }


def error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def ok(description: str, schema: dict, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


LOCATION = {"location": {"description": "the job: GET it for its status and images", "schema": {"type": "string"}}}
ERRORS = {
    "400": "a field is wrong (error.param names it)",
    "401": "no or a malformed API key (API Gateway's answer); the webhook: its signature is missing or wrong",
    "403": "the API key is not valid (API Gateway's answer)",
    "404": "no such job or model (or another key's)",
    "409": "the job is not in a state for this",
    "410": "the provider removed the outputs",
    "413": "the body, an image or the answer is too large (API Gateway's answer for a body over its limits)",
    "415": "the body is not JSON (or multipart where the route takes it)",
    "422": "the provider refused the content, or an image URL could not be fetched",
    "429": "throttled (API Gateway's answer)",
    "500": "a bug on our side (never expected)",
    "501": "no model is configured for this task on this deployment",
    "502": "the provider failed",
    "503": "the provider or the service is not available right now",
}
# The statuses API Gateway itself may answer ({"message"}) as well as our code ({"error"}).
FROM_GATEWAY = ("401", "403", "413", "429")
# Every authorized route may get these from API Gateway and the authorizer (described in ERRORS).
AUTHORIZED = ("401", "403", "429")


def generation_body() -> dict:
    return body_schema(generate.FIELDS, about="a generation; prompt (or its older name message) is required")


def edit_body(task: str, form: bool) -> dict:
    names = edit.FORM_FIELDS if form else edit.JSON_FIELDS
    if task == "variation":
        names = names - set(edit.NOT_FOR_VARIATIONS)
    return body_schema(
        names, form=form, about=f"an {task}: one to {forms.MAX_IMAGES} images, as files, base64, or URLs"
    )


def request_schemas() -> dict:
    """The request bodies, named (generated clients get types of these names), and the model name."""
    return {
        "ModelName": {
            "type": "string",
            "description": "a model's catalog name or alias (GET /v1/models), "
            "or one of OpenAI's names (the deployment's default)",
            "examples": model_names(),
        },
        "CreateImageRequest": generation_body(),
        "EditImageRequest": edit_body("edit", form=False),
        "EditImageForm": edit_body("edit", form=True),
        "VariationRequest": edit_body("variation", form=False),
        "VariationForm": edit_body("variation", form=True),
        "AnalysisRequest": body_schema(analyze.JSON_FIELDS),
        "AnalysisForm": body_schema(analyze.FORM_FIELDS, form=True),
    }


def body(json_schema: str, form_schema: str | None = None) -> dict:
    content = {"application/json": {"schema": ref(json_schema)}}
    if form_schema:
        content["multipart/form-data"] = {"schema": ref(form_schema)}
    return {"required": True, "content": content}


def query(name: str, schema: dict, description: str = "") -> dict:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


JOB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
MADE = {
    "201": ok("the images, made now", ref("ImagesResponse"), LOCATION),
    "202": ok(
        "queued: the job makes them (Prefer: respond-async; or a model that answers later, not done in time)",
        {"anyOf": [ref("Accepted"), ref("JobList")]},
        LOCATION,
    ),
}
PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": (
        "respond-async (RFC 7240): answer 202 with a job, for any model; wait or wait=N: wait up to N seconds for "
        "the images of a model that answers later (without either, such a model is waited for as with wait)"
    ),
}


def images_operation(task: str, summary: str) -> dict:
    """An edit or a variation: made now (201, with the jobs for a Replicate model that finished in
    time) or as jobs (202)."""
    made_now = ok("the images, made now", {"anyOf": [ref("ImagesResponse"), ref("JobList")]})
    return {
        "summary": summary,
        "parameters": [PREFER],
        "requestBody": body(
            *(("EditImageRequest", "EditImageForm") if task == "edit" else ("VariationRequest", "VariationForm"))
        ),
        "responses": MADE | {"201": made_now},
        "errors": ("400", "413", "415", "422", "502", "503"),
    }


# What each route is for and what it answers (the statuses besides AUTHORIZED), once per route key.
OPERATIONS: dict[str, dict] = {
    "POST /v1/images/generations": {
        "summary": "Make images from a prompt (OpenAI's Create image)",
        "parameters": [PREFER],
        "requestBody": body("CreateImageRequest"),
        "responses": MADE,
        "errors": ("400", "413", "415", "422", "502", "503"),
    },
    "GET /v1/images/generations": {
        "summary": "Make images from a prompt given as query parameters",
        "parameters": [query(name, {"type": "string"}) for name in sorted(generate.FIELDS - {"message"})],
        "responses": MADE,
        "errors": ("400", "422", "502", "503"),
    },
    "POST /v1/images/edits": images_operation(
        "edit", "Edit images with a prompt, optionally a mask (OpenAI's Create image edit)"
    ),
    "POST /v1/images/variations": images_operation(
        "variation", "Variations of images (OpenAI's Create image variation)"
    ),
    "POST /v1/images/classifications": {
        "summary": "Label images (ONNX in the function)",
        "parameters": [query("top_k", {"type": "string"}, f"1-{analyze.MAX_TOP_K}, default 5")],
        "requestBody": body("AnalysisRequest", "AnalysisForm"),
        "responses": {"200": ok("one result per image, in order", ref("Analysis"))},
        "errors": ("400", "413", "415", "501", "503"),
    },
    "POST /v1/images/detections": {
        "summary": "Find objects in images, with boxes in the image's pixels (ONNX in the function)",
        "parameters": [
            query("min_score", {"type": "string"}, "0-1, default 0.25"),
            query("iou", {"type": "string"}, "0-1, default 0.45"),
        ],
        "requestBody": body("AnalysisRequest", "AnalysisForm"),
        "responses": {"200": ok("one result per image, in order", ref("Analysis"))},
        "errors": ("400", "413", "415", "501", "503"),
    },
    "POST /v1/webhooks/replicate": {
        "summary": "Replicate's webhook (signed with the deployment's webhook secret; not for clients)",
        "parameters": [query("job", {"type": "string"})],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": ok("recorded", {"type": "object", "required": ["id", "status"]})},
        "errors": ("400", "401", "404", "409", "410", "413", "415", "422", "502", "503"),
    },
    "GET /v1/jobs/{id}": {
        "summary": "A job's status, and its images once it has them",
        "parameters": [JOB_ID],
        "responses": {"200": ok("the job", ref("Job"))},
        "errors": ("404",),
    },
    "POST /v1/jobs/{id}/cancel": {
        "summary": "Cancel an open job",
        "parameters": [JOB_ID],
        "responses": {"200": ok("the job, canceled", ref("Job"))},
        "errors": ("404", "409", "502", "503"),
    },
    "GET /v1/models": {
        "summary": "The deployment's models (OpenAI's List models), with their tasks, sizes and prices",
        "responses": {"200": ok("the models", ref("ModelList"))},
        "errors": (),
    },
    "GET /v1/models/{id}": {
        "summary": "One model",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": ok("the model", ref("Model"))},
        "errors": ("404",),
    },
    "GET /v1/usage": {
        "summary": "What the caller's own API key spent per day, at the catalog's list prices",
        "parameters": [
            query(
                "start_date",
                {"type": "string", "format": "date"},
                f"YYYY-MM-DD (UTC), default {usage.DEFAULT_DAYS - 1} days before end_date",
            ),
            query("end_date", {"type": "string", "format": "date"}, "YYYY-MM-DD (UTC), default today"),
        ],
        "responses": {"200": ok(f"per day, at most {usage.MAX_DAYS} days", ref("Usage"))},
        "errors": ("400",),
    },
    "GET /v1/webhooks/default/secret": {
        "summary": "The caller's key's webhook signing secret (Standard Webhooks), as Replicate answers it",
        "responses": {
            "200": ok(
                "the secret",
                {
                    "type": "object",
                    "required": ["key"],
                    "properties": {"key": {"type": "string", "pattern": "^whsec_"}},
                },
            )
        },
        "errors": (),
    },
    "GET /": {
        "summary": "The playground page",
        "responses": {"200": {"description": "the page", "content": {"text/html": {"schema": TEXT}}}},
        "errors": (),
    },
    "GET /playground": {
        "summary": "The playground page",
        "responses": {"200": {"description": "the page", "content": {"text/html": {"schema": TEXT}}}},
        "errors": (),
    },
    "GET /openapi.json": {
        "summary": "This contract",
        "responses": {"200": ok("OpenAPI 3.1", {"type": "object"})},
        "errors": (),
    },
}

NULLABLE_TEXT = {"type": ["string", "null"]}
PRESIGNED = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": TEXT,
        "download_url": {"type": "string", "description": "the same image, saved as <job id>-<n>.<ext>"},
        "expires_in": {"type": "integer"},
        "content_type": NULLABLE_TEXT,
    },
}
COST = {
    "cost_usd": {"type": "number", "minimum": 0, "description": "images x the model's list price (catalog)"},
    "price_date": {"type": "string", "format": "date"},
}
SCALED = {
    "scaled": {
        "type": "array",
        "items": TEXT,
        "description": "each source an edit sent at another size than it came: 'image: 4032x3024 -> 3547x2660'",
    }
}
JOB_HEAD = {name: NULLABLE_TEXT for name in answers.JOB_FIELDS} | {
    "id": TEXT,
    "status": {"enum": ["queued", "running", "succeeded", "failed", "canceled"]},
}
PERIODS = {"type": "object", "properties": {"day": {"type": "number"}, "month": {"type": "number"}}}
# What GET /v1/usage sums, in total, per day and per model.
TOTALS = {"jobs": {"type": "integer"}, "images": {"type": "integer"}, "cost_usd": {"type": "number"}}
LINKS = {"type": "object", "required": ["self"], "properties": {"self": TEXT}}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "type", "param"],
                "properties": {"code": TEXT, "message": TEXT, "type": TEXT, "param": NULLABLE_TEXT},
            }
        },
    },
    "GatewayError": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": TEXT},
        "description": "API Gateway's own answer (auth, throttling, sizes)",
    },
    "ImagesResponse": {
        "type": "object",
        "required": ["created", "data"],
        "description": "OpenAI's ImagesResponse (created, data) with the job it made (id, images, links, cost)",
        "properties": JOB_HEAD
        | COST
        | SCALED
        | {
            "created": {"type": "integer"},
            "data": {"type": "array", "items": {"type": "object", "properties": {"url": TEXT, "b64_json": TEXT}}},
            "images": {"type": "array", "items": PRESIGNED},
            "output_format": {"enum": list(fields.OUTPUT_FORMATS)},
            "background": {"enum": ["opaque"]},
            "size": {"enum": list(answers.ECHOED_SIZES)},
            "offline": {"type": "boolean"},
            "links": LINKS,
            "jobs": {"type": "array", "items": ref("JobSummary")},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "status", "links", "data"],
        "properties": JOB_HEAD
        | {"created": {"type": "integer"}, "data": {"type": "array", "maxItems": 0}, "links": LINKS},
    },
    "JobSummary": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "id": TEXT,
            "status": JOB_HEAD["status"],
            "links": LINKS,
            "error": NULLABLE_TEXT,
            "source": TEXT,
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs"],
        "properties": {"jobs": {"type": "array", "items": ref("JobSummary")}, "error": {"type": "object"}},
    },
    "Job": {
        "type": "object",
        "required": ["id", "status", "images", "links"],
        "properties": JOB_HEAD
        | COST
        | SCALED
        | {
            "error": NULLABLE_TEXT,
            "created_at": TEXT,
            "updated_at": TEXT,
            "images": {"type": "array", "items": PRESIGNED},
            "offline": {"type": "boolean"},
            "links": LINKS,
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": TEXT,
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": TEXT,
            "provider": TEXT,
            "tasks": {"type": "array", "items": {"enum": ["generate", "edit", "variation"]}},
            "routes": {"type": "array", "items": TEXT},
            "default_for": {"type": "array", "items": TEXT},
            "sizes": {"type": "array", "items": TEXT},
            "aspect_ratios": {"type": "array", "items": TEXT},
            "images_per_call": {"type": "integer"},
            "max_input_pixels": {"type": ["integer", "null"]},
            "price_per_image_usd": {"type": ["number", "null"]},
            "price_date": NULLABLE_TEXT,
            "aliases": {"type": "array", "items": TEXT},
            # one of OpenAI's names: the catalog model each task gives it
            "stands_for": {"type": "object", "additionalProperties": TEXT},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
    },
    "Analysis": {
        "type": "object",
        "required": ["object", "task", "results"],
        "properties": {
            "object": {"const": "list"},
            "task": {"enum": list(analyze.TASKS.values())},
            "model": TEXT,
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "source"],
                    "properties": {
                        "index": {"type": "integer"},
                        "source": TEXT,
                        "labels": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["label", "score"],
                                "properties": {"label": TEXT, "score": {"type": "number"}},
                            },
                        },
                        "detections": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["label", "score", "x", "y", "width", "height"],
                                "properties": {k: {"type": "number"} for k in ("score", "x", "y", "width", "height")}
                                | {"label": TEXT},
                            },
                        },
                        "error": {"type": "object", "properties": {"code": TEXT, "message": TEXT}},
                    },
                },
            },
        },
    },
    "Usage": {
        "type": "object",
        "required": ["object", "start_date", "end_date", "jobs", "images", "cost_usd", "data"],
        "properties": {
            "object": {"const": "usage"},
            "start_date": {"type": "string", "format": "date"},
            "end_date": {"type": "string", "format": "date"},
            **TOTALS,
            # a key with limits (docs/auth.md): them, and what is spent or reserved and left of its budgets
            "limits": {"type": "object", "description": "the key's limits: budget_usd_day/month, rpm, models, ..."},
            "spent_or_reserved_usd": PERIODS,
            "left_usd": PERIODS,
            "resets_at": {"type": "object", "properties": {"day": TEXT, "month": TEXT}},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["object", "date", "jobs", "images", "cost_usd", "models"],
                    "properties": {
                        "object": {"const": "usage.day"},
                        "date": {"type": "string", "format": "date"},
                        **TOTALS,
                        "models": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "model": TEXT,
                                    **TOTALS,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def operation(key: str, route: dict) -> dict:
    if key not in OPERATIONS:
        raise SystemExit(f"scripts/openapi.py: {key} is in functions/routes.json but OPERATIONS does not describe it")
    described = dict(OPERATIONS[key])
    errors = described.pop("errors")
    responses = dict(described.pop("responses"))
    statuses = {*errors, *(AUTHORIZED if route["auth"] else ()), *(("500",) if route["function"] != "web" else ())}
    responses |= {status: {"$ref": f"#/components/responses/{status}"} for status in statuses}
    described["security"] = [{"apiKey": []}] if route["auth"] else []
    return {
        "operationId": operation_id(key),
        **described,
        "responses": dict(sorted(responses.items())),
        "tags": [route["function"]],
    }


def operation_id(key: str) -> str:
    method, path = key.split(" ", 1)
    words = [w.strip("{}").replace(".", "_") for w in path.split("/") if w and w != "v1"] or ["root"]
    return "_".join([method.lower(), *words])


def contract() -> dict:
    routes = json.loads(ROUTES.read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    paths: dict[str, dict] = {}
    for key, route in routes.items():
        method, path = key.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = operation(key, route)
    stale = set(OPERATIONS) - set(routes)
    if stale:
        raise SystemExit(
            f"scripts/openapi.py: OPERATIONS describes routes that are not in routes.json: {sorted(stale)}"
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imagegen",
            "version": version,
            "summary": "Image generation, edits and analysis behind OpenAI's Images API paths",
            "description": (
                "Generated by scripts/openapi.py from functions/routes.json, the route modules' fields and the "
                'model catalog. Errors are {"error": {"code", "message", "type", "param"}}; API Gateway\'s own '
                'are {"message"}.'
            ),
        },
        "servers": [{"url": "/", "description": "where this document is served (the deployment's $default stage)"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key (make api-key), with auth.type API_KEY (the default)",
                }
            },
            "schemas": request_schemas() | SCHEMAS,
            "responses": {s: gateway_or_api(text) if s in FROM_GATEWAY else error(text) for s, text in ERRORS.items()},
        },
    }


def render() -> str:
    return json.dumps(contract(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python scripts/openapi.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
