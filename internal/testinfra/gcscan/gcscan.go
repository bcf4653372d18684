// Package gcscan tells tests whether a type holds pointers. Go allocates
// maps and slices of pointer-free types as memory its garbage collector
// never scans; state kept per uplink for minutes is built that way, and
// tests pin it.
package gcscan

import "reflect"

// Pointer names the first field of t that is or holds a pointer (a
// pointer, string, slice, map, channel, func or interface), or "" when t
// holds none.
func Pointer(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if p := Pointer(t.Field(i).Type); p != "" {
				return t.Field(i).Name + "." + p
			}
		}
		return ""
	case reflect.Array:
		if t.Len() == 0 {
			return ""
		}
		return Pointer(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	}
	return t.Kind().String()
}
