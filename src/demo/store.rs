//! In-memory record stores of the demo services: seeded data, id assignment and the size cap.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{json, Map, Value};

/// Most records one demo service keeps; a create beyond it answers 507 Insufficient Storage.
pub const MAX_RECORDS: usize = 1_000;

/// Which of the three demo services (and so which resource) a store or server is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `user-service`, serving `/api/users`.
    Users,
    /// `order-service`, serving `/api/orders`.
    Orders,
    /// `product-service`, serving `/api/products`.
    Products,
}

impl Kind {
    /// All kinds, in the order the services are started and configured.
    pub const ALL: [Kind; 3] = [Kind::Users, Kind::Orders, Kind::Products];

    /// The service name, e.g. `user-service`.
    pub fn service_name(self) -> &'static str {
        match self {
            Kind::Users => "user-service",
            Kind::Orders => "order-service",
            Kind::Products => "product-service",
        }
    }

    /// The resource segment of the API path, e.g. `users` for `/api/users`.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Orders => "orders",
            Kind::Products => "products",
        }
    }

    /// The loopback port used with `DemoPorts::Fixed`.
    pub fn fixed_port(self) -> u16 {
        match self {
            Kind::Users => 9001,
            Kind::Orders => 9002,
            Kind::Products => 9003,
        }
    }

    /// A sample JSON body for creating a record (used by the curl examples).
    pub fn sample_body(self) -> &'static str {
        match self {
            Kind::Users => r#"{"name":"Dave","email":"dave@example.com"}"#,
            Kind::Orders => r#"{"user_id":2,"product_id":3,"quantity":1,"status":"pending"}"#,
            Kind::Products => r#"{"name":"Doohickey","price_cents":499}"#,
        }
    }

    /// The three seed records, without `id` and `service` (the store adds those).
    fn seeds(self) -> [Value; 3] {
        match self {
            Kind::Users => [
                json!({"name": "Alice", "email": "alice@example.com"}),
                json!({"name": "Bob", "email": "bob@example.com"}),
                json!({"name": "Carol", "email": "carol@example.com"}),
            ],
            Kind::Orders => [
                json!({"user_id": 1, "product_id": 2, "quantity": 1, "status": "shipped"}),
                json!({"user_id": 2, "product_id": 1, "quantity": 2, "status": "pending"}),
                json!({"user_id": 1, "product_id": 3, "quantity": 5, "status": "delivered"}),
            ],
            Kind::Products => [
                json!({"name": "Widget", "price_cents": 999}),
                json!({"name": "Gadget", "price_cents": 2450}),
                json!({"name": "Gizmo", "price_cents": 9900}),
            ],
        }
    }
}

/// Why a record could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateError {
    /// The store already holds `MAX_RECORDS` records.
    Full,
}

struct Inner {
    records: BTreeMap<u64, Map<String, Value>>,
    next_id: u64,
}

/// One service's records, keyed by id. The lock is only held for map operations, never across
/// an `.await`; a poisoned lock is recovered (the map stays consistent after any panic).
pub struct Store {
    kind: Kind,
    inner: Mutex<Inner>,
}

impl Store {
    /// A store holding the three seed records of `kind`, with ids 1, 2 and 3.
    pub fn seeded(kind: Kind) -> Store {
        let mut records = BTreeMap::new();
        let mut next_id = 1;
        for seed in kind.seeds() {
            if let Value::Object(fields) = seed {
                records.insert(next_id, stamp(kind, next_id, fields));
                next_id += 1;
            }
        }
        Store {
            kind,
            inner: Mutex::new(Inner { records, next_id }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// All records, ordered by id.
    pub fn list(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .records
            .values()
            .map(|r| Value::Object(r.clone()))
            .collect()
    }

    /// The record with this id. For user-service, a numeric id that is not stored yields a
    /// generated record (`User 123`, `user123@example.com`) so every user id "exists".
    pub fn get(&self, id: &str) -> Option<Value> {
        let id: u64 = id.parse().ok()?;
        if let Some(r) = self.lock().records.get(&id) {
            return Some(Value::Object(r.clone()));
        }
        match self.kind {
            Kind::Users => Some(json!({
                "id": id,
                "name": format!("User {id}"),
                "email": format!("user{id}@example.com"),
                "service": self.kind.service_name(),
            })),
            Kind::Orders | Kind::Products => None,
        }
    }

    /// Stores `fields` under the next id (any `id` or `service` in them is replaced) and
    /// returns the stored record with its id.
    pub fn create(&self, fields: Map<String, Value>) -> Result<(u64, Value), CreateError> {
        let mut inner = self.lock();
        if inner.records.len() >= MAX_RECORDS {
            return Err(CreateError::Full);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let record = stamp(self.kind, id, fields);
        inner.records.insert(id, record.clone());
        Ok((id, Value::Object(record)))
    }

    /// Number of stored records.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }
}

/// Sets `id` and `service` on a record.
fn stamp(kind: Kind, id: u64, mut fields: Map<String, Value>) -> Map<String, Value> {
    fields.insert("id".to_owned(), Value::from(id));
    fields.insert("service".to_owned(), Value::from(kind.service_name()));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_with_three_records() {
        let s = Store::seeded(Kind::Orders);
        let list = s.list();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["id"], 1);
        assert_eq!(list[2]["service"], "order-service");
    }

    #[test]
    fn get_missing_and_generated() {
        let orders = Store::seeded(Kind::Orders);
        assert!(orders.get("99").is_none());
        assert!(orders.get("abc").is_none());
        let users = Store::seeded(Kind::Users);
        assert_eq!(
            users.get("1").map(|u| u["name"].clone()),
            Some(json!("Alice"))
        );
        let generated = users.get("123");
        assert_eq!(
            generated,
            Some(
                json!({"id": 123, "name": "User 123", "email": "user123@example.com",
                        "service": "user-service"})
            )
        );
        assert!(users.get("nobody").is_none());
    }

    #[test]
    fn create_assigns_ids_and_caps() {
        let s = Store::seeded(Kind::Products);
        let mut fields = Map::new();
        fields.insert("id".to_owned(), json!(77));
        fields.insert("name".to_owned(), json!("Thing"));
        let (id, rec) = s.create(fields).unwrap();
        assert_eq!(id, 4);
        assert_eq!(rec["id"], 4);
        assert_eq!(rec["service"], "product-service");
        while s.len() < MAX_RECORDS {
            s.create(Map::new()).unwrap();
        }
        assert_eq!(s.create(Map::new()), Err(CreateError::Full));
        assert_eq!(s.len(), MAX_RECORDS);
    }
}
