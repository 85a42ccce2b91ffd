//! Tests of the OpenAPI document: what each kind of binding turns into, and the bindings it leaves
//! out with a warning.

use serde_json::{Value, json};

use super::{Options, document};
use crate::http_rules::HttpRules;
use crate::http_rules::tests::pool;

/// The document of `body` (see [`pool`]) and the warnings given on the way.
fn generate(body: &str) -> (Value, Vec<String>) {
    let pool = pool(body);
    let mut warnings = Vec::new();
    let rules = HttpRules::read(&pool, |_| true, &mut warnings).unwrap();
    let text = document(
        &pool,
        |file| file.name() == "test.proto",
        &rules,
        &Options::default(),
        &mut warnings,
    );
    assert!(text.ends_with("}\n"));
    (serde_json::from_str(&text).unwrap(), warnings)
}

fn operation_ids(document: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            out.push((
                path.clone(),
                method.clone(),
                operation["operationId"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

const MESSAGES: &str = "message Shelf { string name = 1; string title = 2; int32 n = 3; }\n\
                        message Get { string name = 1; Shelf shelf = 2; }\n";

#[test]
fn paths_that_read_the_same_are_spelled_out() {
    let (document, warnings) = generate(&format!(
        "{MESSAGES}service S {{\n\
         rpc A(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/v1/{{name=shelves/*}}\" }}; }}\n\
         rpc B(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/v1/{{name=shelves/*/books/*}}\" }}; }}\n\
         rpc C(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/v1/shelves/{{name}}\" }}; }}\n\
         rpc D(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/v1/{{name=shelves/*}}\" }}; }}\n\
         }}\n"
    ));
    let ids: Vec<_> = operation_ids(&document)
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("/v1"))
        .collect();
    let expected = [
        ("/v1/shelves/{name_1}/books/{name_2}", "get", "S_B"),
        ("/v1/shelves/{name}", "get", "S_C"),
        ("/v1/{name}", "get", "S_A"),
    ];
    assert_eq!(
        ids,
        expected.map(|(p, m, i)| (p.to_owned(), m.to_owned(), i.to_owned()))
    );
    // D takes what A has, spelled out or not.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("`t.S.D`: GET /v1/{name=shelves/*}: the document already has"),
        "{warnings:?}"
    );
    let parameters = &document["paths"]["/v1/shelves/{name_1}/books/{name_2}"]["get"]["parameters"];
    assert_eq!(
        parameters[1],
        json!({
            "name": "name_2",
            "in": "path",
            "required": true,
            "description": "Part of `name`, which is set to all that `shelves/*/books/*` matches.",
            "schema": {"type": "string"},
        })
    );
    let parameters = &document["paths"]["/v1/{name}"]["get"]["parameters"];
    assert_eq!(parameters[0]["schema"]["pattern"], "^shelves/[^/]+$");
    assert_eq!(parameters[0]["x-reserved-expansion"], true);
    // The rest of the request is the query, nested fields flattened.
    let names: Vec<&str> = parameters
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "shelf.name", "shelf.title", "shelf.n"]);
}

#[test]
fn bodies_responses_and_streams() {
    let (document, warnings) = generate(&format!(
        "{MESSAGES}\
         message Upload {{ string name = 1; google.api.HttpBody file = 2; }}\n\
         service S {{\n\
         rpc Put(Get) returns (Shelf) {{ option (google.api.http) = {{ put: \"/v1/{{name}}\" body: \"*\" }}; }}\n\
         rpc Nested(Get) returns (Shelf) {{ option (google.api.http) = {{ put: \"/v1/x/{{shelf.name}}\" body: \"*\" }}; }}\n\
         rpc Raw(Upload) returns (google.api.HttpBody) {{ option (google.api.http) = {{ post: \"/v1/{{name}}:raw\" body: \"file\" }}; }}\n\
         rpc Whole(google.api.HttpBody) returns (Shelf) {{ option (google.api.http) = {{ post: \"/v1/whole\" body: \"*\" response_body: \"n\" }}; }}\n\
         rpc Watch(Get) returns (stream Shelf) {{ option (google.api.http) = {{ get: \"/v1/{{name}}:watch\" }}; }}\n\
         rpc In(stream Get) returns (Shelf) {{ option (google.api.http) = {{ post: \"/v1/in\" body: \"*\" }}; }}\n\
         rpc Odd(Get) returns (Shelf) {{ option (google.api.http) = {{ custom {{ kind: \"PURGE\" path: \"/v1/odd\" }} }}; }}\n\
         rpc Star(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/v1/*/{{name}}\" }}; }}\n\
         }}\n"
    ));
    let paths = &document["paths"];

    // body "*" with a top-level path field: the body is the request without it.
    let put = &paths["/v1/{name}"]["put"];
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["shelf"]
    );
    assert!(put.get("parameters").unwrap().as_array().unwrap().len() == 1);
    // A nested path field leaves the whole request in the body.
    assert_eq!(
        paths["/v1/x/{shelf.name}"]["put"]["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/t.Get"})
    );

    // HttpBody fields and messages are raw bodies of any type.
    let raw = &paths["/v1/{name}:raw"]["post"];
    assert_eq!(raw["requestBody"]["content"], json!({"*/*": {}}));
    assert_eq!(raw["responses"]["200"]["content"], json!({"*/*": {}}));
    let whole = &paths["/v1/whole"]["post"];
    assert_eq!(whole["requestBody"]["content"], json!({"*/*": {}}));
    assert!(whole.get("parameters").is_none(), "no query for HttpBody");
    assert_eq!(
        whole["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "integer", "format": "int32"})
    );
    assert_eq!(
        whole["responses"]["default"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/google.rpc.Status"})
    );

    // Server streams: JSON lines of results or an error, or server-sent events.
    let watch = &paths["/v1/{name}:watch"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        watch["application/x-ndjson"]["schema"]["properties"],
        json!({
            "result": {"$ref": "#/components/schemas/t.Shelf"},
            "error": {"$ref": "#/components/schemas/google.rpc.Status"},
        })
    );
    assert!(watch["text/event-stream"].is_object());

    // Connect: unary methods only, GET for none of them (none is NO_SIDE_EFFECTS).
    assert!(paths["/t.S/Put"]["post"].is_object());
    assert!(paths["/t.S/Put"].get("get").is_none());
    for streaming in ["/t.S/Watch", "/t.S/In", "/v1/in"] {
        assert!(paths.get(streaming).is_none(), "{streaming}");
    }

    let warnings = warnings.join("\n");
    for expected in [
        "`t.S.In` is client-streaming",
        "`t.S.Odd`: PURGE /v1/odd: OpenAPI has no `PURGE` operation",
        "`t.S.Star`: GET /v1/*/{name}: a `*` or `**` outside a variable has no OpenAPI form",
    ] {
        assert!(warnings.contains(expected), "{expected}\n{warnings}");
    }
    assert_eq!(document["info"]["title"], "t.S");
    assert_eq!(document["tags"], json!([{"name": "t.S"}]));
}

#[test]
fn operation_ids_stay_unique() {
    let (document, _) = generate(&format!(
        "{MESSAGES}service S {{\n\
         rpc A(Get) returns (Shelf) {{\n\
           option idempotency_level = NO_SIDE_EFFECTS;\n\
           option (google.api.http) = {{ get: \"/a\" additional_bindings {{ get: \"/b\" }} }};\n\
         }}\n\
         rpc A_2(Get) returns (Shelf) {{ option (google.api.http) = {{ get: \"/c\" }}; }}\n\
         }}\n\
         service T {{ rpc A(Get) returns (Shelf); }}\n"
    ));
    let ids: Vec<String> = operation_ids(&document)
        .into_iter()
        .map(|(path, method, id)| format!("{method} {path} {id}"))
        .collect();
    assert_eq!(
        ids,
        [
            "get /a S_A",
            "get /b S_A_2",
            "get /c S_A_2_2",
            "get /t.S/A S_A_ConnectGet",
            "post /t.S/A S_A_Connect",
            "post /t.S/A_2 S_A_2_Connect",
            "post /t.T/A T_A_Connect",
        ]
    );
    assert_eq!(document["info"]["title"], "t");
}
