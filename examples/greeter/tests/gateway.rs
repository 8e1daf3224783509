//! Behaviour of the Greeter's REST/JSON gateway through real sockets: the generated routes
//! reach the tonic server with the right request fields, answer the expected JSON, and turn bad
//! requests and unknown paths into `google.rpc.Status` errors.

mod support;

use greeter_example::pb::greeter_client::GreeterClient;
use greeter_example::pb::{Greeting, SayHelloRequest, SendGreetingRequest};
use serde_json::json;
use support::{spawn_app, spawn_library_app};

#[tokio::test]
async fn get_binds_the_path_variable_and_query_parameters() {
    let app = spawn_app().await;

    let response = app
        .get("/v1/greeter/Ada%20Lovelace?greeting=Hi&times=2")
        .await;

    assert_eq!(response.status, 200, "body: {:?}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json(),
        json!({"message": "Hi, Ada Lovelace! Hi, Ada Lovelace!"})
    );
    assert_eq!(
        app.recorder().hellos(),
        [SayHelloRequest {
            name: "Ada Lovelace".into(),
            greeting: "Hi".into(),
            times: 2,
        }]
    );
}

#[tokio::test]
async fn get_without_query_parameters_leaves_them_unset() {
    let app = spawn_app().await;

    let response = app.get("/v1/greeter/Ada").await;

    assert_eq!(response.status, 200, "body: {:?}", response.body);
    assert_eq!(response.json(), json!({"message": "Hello, Ada!"}));
    assert_eq!(
        app.recorder().hellos(),
        [SayHelloRequest {
            name: "Ada".into(),
            greeting: String::new(),
            times: 0,
        }]
    );
}

#[tokio::test]
async fn additional_binding_takes_the_whole_request_as_body() {
    let app = spawn_app().await;

    let response = app
        .post(
            "/v1/greeter:sayHello",
            r#"{"name": "Grace", "greeting": "Hey", "times": 3}"#,
        )
        .await;

    assert_eq!(response.status, 200, "body: {:?}", response.body);
    assert_eq!(
        response.json(),
        json!({"message": "Hey, Grace! Hey, Grace! Hey, Grace!"})
    );
    assert_eq!(
        app.recorder().hellos(),
        [SayHelloRequest {
            name: "Grace".into(),
            greeting: "Hey".into(),
            times: 3,
        }]
    );
}

#[tokio::test]
async fn post_binds_the_body_field_and_answers_the_response_body_field() {
    let app = spawn_app().await;

    let first = app
        .post(
            "/v1/greetings",
            r#"{"sender": "Ada", "recipient": "Grace", "text": "Happy birthday"}"#,
        )
        .await;
    let second = app
        .post(
            "/v1/greetings",
            r#"{"sender": "Grace", "recipient": "Ada"}"#,
        )
        .await;

    assert_eq!(first.status, 200, "body: {:?}", first.body);
    assert_eq!(
        first.json(),
        json!({
            "id": 1,
            "sender": "Ada",
            "recipient": "Grace",
            "text": "Happy birthday",
            "card": "Dear Grace, Happy birthday! -- Ada",
        })
    );
    assert_eq!(second.status, 200, "body: {:?}", second.body);
    assert_eq!(
        second.json(),
        json!({
            "id": 2,
            "sender": "Grace",
            "recipient": "Ada",
            "text": "Hello",
            "card": "Dear Ada, Hello! -- Grace",
        })
    );
    // The JSON body became the request's `greeting` field.
    assert_eq!(
        app.recorder().cards(),
        [
            SendGreetingRequest {
                greeting: Some(Greeting {
                    sender: "Ada".into(),
                    recipient: "Grace".into(),
                    text: "Happy birthday".into(),
                    ..Greeting::default()
                }),
            },
            SendGreetingRequest {
                greeting: Some(Greeting {
                    sender: "Grace".into(),
                    recipient: "Ada".into(),
                    ..Greeting::default()
                }),
            },
        ]
    );
}

#[tokio::test]
async fn unknown_body_field_is_invalid_argument_and_never_reaches_the_server() {
    let app = spawn_app().await;

    let response = app
        .post(
            "/v1/greetings",
            r#"{"sender": "Ada", "recipient": "Grace", "txt": "Hi"}"#,
        )
        .await;

    let message = response.assert_status(400, 3);
    assert!(message.contains("'txt'"), "{message}");
    assert!(app.recorder().cards().is_empty());
}

#[tokio::test]
async fn wrong_json_type_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;

    let response = app
        .post("/v1/greetings", r#"{"sender": 1, "recipient": "Grace"}"#)
        .await;

    let message = response.assert_status(400, 3);
    assert!(message.contains("`sender`"), "{message}");
    assert!(app.recorder().cards().is_empty());
}

#[tokio::test]
async fn malformed_query_parameter_is_invalid_argument_naming_it() {
    let app = spawn_app().await;

    let response = app.get("/v1/greeter/Ada?times=ten").await;

    let message = response.assert_status(400, 3);
    assert!(message.contains("`times`"), "{message}");
    assert!(app.recorder().hellos().is_empty());
}

#[tokio::test]
async fn server_validation_errors_come_back_as_status_json() {
    let app = spawn_app().await;

    let too_many = app.get("/v1/greeter/Ada?times=11").await;
    let no_recipient = app.post("/v1/greetings", r#"{"sender": "Ada"}"#).await;

    too_many.assert_status(400, 3);
    assert_eq!(
        too_many.json(),
        json!({"code": 3, "message": "times must be at most 10, got 11", "details": []})
    );
    no_recipient.assert_status(400, 3);
    assert_eq!(
        no_recipient.json(),
        json!({"code": 3, "message": "greeting.recipient must not be empty", "details": []})
    );
}

#[tokio::test]
async fn unknown_path_is_not_found() {
    let app = spawn_app().await;

    let response = app.get("/v1/nope").await;

    let message = response.assert_status(404, 5);
    assert!(message.contains("/v1/nope"), "{message}");
    assert!(app.recorder().hellos().is_empty());
}

#[tokio::test]
async fn known_path_with_another_method_is_method_not_allowed() {
    let app = spawn_app().await;

    let response = app.send("DELETE", "/v1/greeter/Ada", None).await;

    response.assert_status(405, 12);
    assert_eq!(response.header("allow"), Some("GET"));
}

#[tokio::test]
async fn readyz_asks_the_servers_health_service() {
    let app = spawn_library_app().await;

    let ready = app.get("/readyz").await;
    let hello = app.get("/v1/greeter/Linus?greeting=Moin").await;

    assert_eq!(ready.status, 200, "body: {:?}", ready.body);
    assert_eq!(
        ready.json(),
        json!({"ready": true, "upstreams": {"greeter.v1.Greeter": "SERVING"}})
    );
    assert_eq!(hello.status, 200, "body: {:?}", hello.body);
    assert_eq!(hello.json(), json!({"message": "Moin, Linus!"}));
}

#[tokio::test]
async fn openapi_document_and_swagger_ui_are_served() {
    let app = spawn_app().await;

    let document = app.get("/openapi.json").await;
    let docs = app.get("/docs/").await;

    assert_eq!(document.status, 200);
    let document = document.json();
    assert_eq!(document["info"]["title"], "Greeter API");
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .expect("paths is an object")
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/v1/greeter/{name}",
            "/v1/greeter:sayHello",
            "/v1/greetings"
        ]
    );
    assert_eq!(
        document["paths"]["/v1/greeter/{name}"]["get"]["operationId"],
        "Greeter_SayHello"
    );
    assert_eq!(docs.status, 200);
    assert!(
        docs.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        docs.headers
    );
}

#[tokio::test]
async fn grpc_clients_reach_the_same_server_directly() {
    let app = spawn_app().await;
    let mut client = GreeterClient::new(greeter_example::lazy_channel(app.grpc_addr));

    let response = client
        .say_hello(SayHelloRequest {
            name: "Ada".into(),
            greeting: "Hi".into(),
            times: 1,
        })
        .await
        .expect("the server answers");
    let refused = client
        .say_hello(SayHelloRequest::default())
        .await
        .expect_err("an empty name is refused");

    assert_eq!(response.into_inner().message, "Hi, Ada!");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(refused.message(), "name must not be empty");
}
