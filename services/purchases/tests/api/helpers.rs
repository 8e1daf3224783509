//! `spawn_stack`: users, products and purchases services, each on its own database
//! (`shop_testkit::spawn_shop`).

use std::time::Duration;

pub use shop_testkit::Shop as Stack;

pub async fn spawn_stack() -> Stack {
    spawn_stack_with_deadline(Duration::from_secs(3)).await
}

pub async fn spawn_stack_with_deadline(deadline: Duration) -> Stack {
    shop_testkit::spawn_shop(deadline).await
}
