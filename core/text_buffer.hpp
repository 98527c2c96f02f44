// A rope of UTF-8 chunks indexed by code point. Insert, erase and substring
// cost O(log n + chunk size) whatever the document size, so a 10 MB document
// edits as fast as a small one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace stet {

class text_buffer {
public:
  text_buffer();
  /// Precondition: `utf8` is valid UTF-8.
  explicit text_buffer(std::string_view utf8);
  text_buffer(const text_buffer& other);
  text_buffer& operator=(const text_buffer& other);
  text_buffer(text_buffer&&) noexcept;
  text_buffer& operator=(text_buffer&&) noexcept;
  ~text_buffer();

  // -- observers --

  /// Length in code points.
  std::size_t size() const noexcept;
  /// Length in bytes of the UTF-8 encoding.
  std::size_t size_bytes() const noexcept;
  /// The code points [pos, pos + count), clamped to the end.
  std::string substr(std::size_t pos, std::size_t count) const;
  std::string str() const;

  // -- modifiers --

  /// Inserts `utf8` before code point `pos`. Preconditions: `pos <= size()`,
  /// `utf8` is valid UTF-8.
  void insert(std::size_t pos, std::string_view utf8);
  /// Removes the code points [pos, pos + count). Precondition: the range lies
  /// inside the buffer.
  void erase(std::size_t pos, std::size_t count);

  struct node;

private:
  std::unique_ptr<node> root_;
};

} // namespace stet
