// Package fields extracts a fixed set of key paths from one JSON object in a
// single validating pass, without building a document tree.
//
// It is the hot path of rule evaluation: a CloudTrail record is about 1.6 KB
// of JSON and the rules read 10 to 15 of its fields. [Compile] turns the key
// paths the rules need into a trie; an [Extractor] then walks a record once,
// compares each object key only against the children of the current trie
// node, returns the values of the wanted paths, and skips every other value
// with a tight loop that still checks the JSON grammar. A record is accepted
// exactly when [encoding/json.Valid] accepts it and it is an object, and the
// values agree with decoding the record into a map[string]any with
// encoding/json and walking the path: the last of duplicate keys wins, keys
// match exactly after unescaping, and strings are unescaped as encoding/json
// does (invalid UTF-8 and lone surrogates become U+FFFD).
package fields
