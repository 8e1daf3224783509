use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use proto::products::v1::CreateProductRequest;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn creates_the_seed_product() {
    let app = spawn_app().await;
    let product = app.create_product("Laptop", 1299.99).await;
    assert!(product.id > 0);
    assert_eq!(product.name, "Laptop");
    assert_eq!(product.price, 1299.99);
    let free = app.create_product("Sticker", 0.0).await;
    assert_eq!(free.price, 0.0);
    assert!(free.id > product.id);

    // Really stored, price exact.
    let mut conn = AsyncPgConnection::establish(app.db.url())
        .await
        .expect("connect");
    let stored: Vec<Stored> = diesel::sql_query("SELECT name, price FROM products ORDER BY id")
        .load(&mut conn)
        .await
        .expect("rows");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0].name.as_str(), stored[0].price),
        ("Laptop", 1299.99)
    );
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Double)]
    price: f64,
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_fields_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("", 1.0, "name"),
        (" ", 1.0, "name"),
        (&*"x".repeat(201), 1.0, "name"),
        ("Laptop", -0.01, "price"),
        ("Laptop", f64::NAN, "price"),
        ("Laptop", f64::INFINITY, "price"),
    ];
    for (name, price, field) in cases {
        let status = app
            .client
            .clone()
            .create_product(CreateProductRequest {
                name: name.into(),
                price: Some(price),
            })
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            shop_testkit::violated_fields(&status),
            [field],
            "{status:?}"
        );
    }
    // A price must be sent, even 0: a forgotten one is not a free product.
    let status = app
        .client
        .clone()
        .create_product(CreateProductRequest {
            name: "Laptop".into(),
            price: None,
        })
        .await
        .expect_err("no price");
    assert_eq!(
        shop_testkit::violated_fields(&status),
        ["price"],
        "{status:?}"
    );
}
