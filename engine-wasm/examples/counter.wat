;; The counter of docs/EXAMPLES.md, for the wasm engine.
;;
;;   hook 0    constructor: store "count" = 0 (8 bytes)                                  -> 0
;;   entry 0   increment: count += 1 (absent counts as 0); store; event 1 with the new
;;             value (8 bytes); return data = new value  -> 0; 2 if count is u64::MAX
;;             (nothing stored)
;;   entry 1   get: return data = count (8 bytes; 0 when absent)                          -> 0
;;   entry 2   add(amount: u64, exactly 8 bytes of params): count += amount; store; event 1;
;;             return data = new value  -> 0; 1 if params are not 8 bytes; 2 on overflow
;;             (nothing stored)
;;
;; Memory: the key "count" at 0 (5 bytes), the value buffer at 16 (8 bytes), the call input
;; at 32 (8-byte header, then the params at 40).
;;
;; Assemble with examples/build.sh; the .wasm beside this file is committed.
(module
  (import "env" "tos_get_input" (func $get_input (param i64 i64) (result i64)))
  (import "env" "tos_storage_load" (func $storage_load (param i64 i64 i64 i64) (result i64)))
  (import "env" "tos_storage_store" (func $storage_store (param i64 i64 i64 i64) (result i64)))
  (import "env" "tos_fire_event" (func $fire_event (param i64 i64 i64) (result i64)))
  (import "env" "tos_set_return_data" (func $set_return_data (param i64 i64) (result i64)))

  (memory (export "memory") 1)
  (data (i32.const 0) "count")

  ;; The stored count, 0 when absent (the value buffer is cleared before the load).
  (func $load_count (result i64)
    (i64.store (i32.const 16) (i64.const 0))
    (drop (call $storage_load (i64.const 0) (i64.const 5) (i64.const 16) (i64.const 8)))
    (i64.load (i32.const 16)))

  ;; Stores `value` as the count.
  (func $store_count (param $value i64)
    (i64.store (i32.const 16) (local.get $value))
    (drop (call $storage_store (i64.const 0) (i64.const 5) (i64.const 16) (i64.const 8))))

  ;; Stores `value`, fires event 1 with it and returns it.
  (func $publish (param $value i64)
    (call $store_count (local.get $value))
    (drop (call $fire_event (i64.const 1) (i64.const 16) (i64.const 8)))
    (drop (call $set_return_data (i64.const 16) (i64.const 8))))

  (func (export "hook_0") (result i64)
    (call $store_count (i64.const 0))
    (i64.const 0))

  (func (export "entry_0") (result i64)
    (local $count i64)
    (local.set $count (call $load_count))
    ;; -1 is u64::MAX: incrementing it would overflow.
    (if (i64.eq (local.get $count) (i64.const -1))
      (then (return (i64.const 2))))
    (call $publish (i64.add (local.get $count) (i64.const 1)))
    (i64.const 0))

  (func (export "entry_1") (result i64)
    (i64.store (i32.const 16) (call $load_count))
    (drop (call $set_return_data (i64.const 16) (i64.const 8)))
    (i64.const 0))

  (func (export "entry_2") (result i64)
    (local $count i64)
    (local $sum i64)
    ;; The input is the 8-byte header then the params: exactly 16 bytes for 8 bytes of params.
    (if (i64.ne (call $get_input (i64.const 32) (i64.const 16)) (i64.const 16))
      (then (return (i64.const 1))))
    (local.set $count (call $load_count))
    (local.set $sum (i64.add (local.get $count) (i64.load (i32.const 40))))
    ;; An unsigned sum overflowed exactly when it wrapped below an operand.
    (if (i64.lt_u (local.get $sum) (local.get $count))
      (then (return (i64.const 2))))
    (call $publish (local.get $sum))
    (i64.const 0))
)
