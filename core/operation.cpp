#include "core/operation.hpp"

#include "core/component_cursor.hpp"
#include "core/text_buffer.hpp"
#include "core/utf8.hpp"

namespace stet {

void operation::flush_retain() {
  if (pending_retain_ == 0)
    return;
  if (!components_.empty() && components_.back().kind == component_kind::retain)
    components_.back().length += pending_retain_;
  else
    components_.push_back({component_kind::retain, pending_retain_, {}});
  pending_retain_ = 0;
}

operation& operation::retain(std::size_t n) {
  pending_retain_ += n;
  return *this;
}

operation& operation::insert(std::string_view text) {
  return insert(text, utf8::length(text));
}

operation& operation::insert(std::string_view text, std::size_t length) {
  if (length == 0)
    return *this;
  flush_retain();
  auto& cs = components_;
  if (!cs.empty() && cs.back().kind == component_kind::insert) {
    cs.back().text += text;
    cs.back().length += length;
  } else if (!cs.empty() && cs.back().kind == component_kind::erase) {
    // Canonical order: insert before an adjacent erase.
    if (cs.size() >= 2 && cs[cs.size() - 2].kind == component_kind::insert) {
      cs[cs.size() - 2].text += text;
      cs[cs.size() - 2].length += length;
    } else {
      cs.insert(cs.end() - 1, component{component_kind::insert, length, std::string{text}});
    }
  } else {
    cs.push_back({component_kind::insert, length, std::string{text}});
  }
  return *this;
}

operation& operation::erase(std::size_t n, std::string_view removed) {
  if (n == 0)
    return *this;
  flush_retain();
  auto& cs = components_;
  if (!cs.empty() && cs.back().kind == component_kind::erase) {
    auto& last = cs.back();
    // Keep the removed text only while every piece of it is known.
    if (!last.text.empty() && !removed.empty())
      last.text += removed;
    else
      last.text.clear();
    last.length += n;
  } else {
    cs.push_back({component_kind::erase, n, std::string{removed}});
  }
  return *this;
}

operation& operation::push(const component& c) {
  switch (c.kind) {
    case component_kind::retain: return retain(c.length);
    case component_kind::insert: return insert(c.text, c.length);
    case component_kind::erase: return erase(c.length, c.text);
  }
  return *this;
}

std::size_t operation::input_length() const noexcept {
  std::size_t n = pending_retain_;
  for (auto& c : components_)
    if (c.kind != component_kind::insert)
      n += c.length;
  return n;
}

std::ptrdiff_t operation::length_delta() const noexcept {
  std::ptrdiff_t d = 0;
  for (auto& c : components_) {
    if (c.kind == component_kind::insert)
      d += static_cast<std::ptrdiff_t>(c.length);
    else if (c.kind == component_kind::erase)
      d -= static_cast<std::ptrdiff_t>(c.length);
  }
  return d;
}

std::size_t operation::inserted_bytes() const noexcept {
  std::size_t n = 0;
  for (auto& c : components_)
    if (c.kind == component_kind::insert)
      n += c.text.size();
  return n;
}

status apply(text_buffer& doc, operation& op) {
  if (op.input_length() > doc.size())
    return make_error(errc::out_of_range,
                      "the edit spans " + std::to_string(op.input_length())
                        + " code points but the document has " + std::to_string(doc.size()));
  // Positions refer to the document as the op goes along: erases read their
  // text just before removing it, which records what they removed in place.
  std::size_t pos = 0;
  for (auto& c : op.components_) {
    switch (c.kind) {
      case component_kind::retain: pos += c.length; break;
      case component_kind::insert:
        doc.insert(pos, c.text);
        pos += c.length;
        break;
      case component_kind::erase:
        c.text = doc.substr(pos, c.length);
        doc.erase(pos, c.length);
        break;
    }
  }
  return ok();
}

std::string apply_to_string(std::string_view doc, const operation& op) {
  std::string out;
  std::size_t byte = 0;
  for (auto& c : op.components()) {
    switch (c.kind) {
      case component_kind::retain: {
        auto n = utf8::byte_offset(doc.substr(byte), c.length);
        out.append(doc.substr(byte, n));
        byte += n;
        break;
      }
      case component_kind::insert: out += c.text; break;
      case component_kind::erase: byte += utf8::byte_offset(doc.substr(byte), c.length); break;
    }
  }
  out.append(doc.substr(byte));
  return out;
}

operation compose(const operation& a, const operation& b) {
  component_cursor ca{a}, cb{b};
  operation out;
  for (;;) {
    if (!cb.done() && cb.kind() == component_kind::insert) {
      out.push(cb.take_all());
      continue;
    }
    if (!ca.done() && ca.kind() == component_kind::erase) {
      out.push(ca.take_all());
      continue;
    }
    if (ca.done() && cb.done())
      break;
    if (ca.done()) { // a ends in an implicit retain
      out.push(cb.take_all());
      continue;
    }
    if (cb.done()) {
      out.push(ca.take_all());
      continue;
    }
    auto n = std::min(ca.remaining(), cb.remaining());
    auto pa = ca.take(n);
    auto pb = cb.take(n);
    if (pa.kind == component_kind::retain)
      out.push(pb); // retain or erase of what a kept
    else if (pb.kind == component_kind::retain)
      out.push(pa); // a's insert survives
    // else: b erases what a inserted; both vanish.
  }
  return out;
}

operation invert(const operation& op) {
  operation out;
  for (auto& c : op.components()) {
    switch (c.kind) {
      case component_kind::retain: out.retain(c.length); break;
      case component_kind::insert: out.erase(c.length, c.text); break;
      case component_kind::erase: out.insert(c.text, c.length); break;
    }
  }
  return out;
}

std::string to_debug_string(const operation& op) {
  std::string s = "[";
  for (auto& c : op.components()) {
    if (s.size() > 1)
      s += ", ";
    switch (c.kind) {
      case component_kind::retain: s += "r" + std::to_string(c.length); break;
      case component_kind::insert: s += "i'" + c.text + "'"; break;
      case component_kind::erase: s += "d" + std::to_string(c.length); break;
    }
  }
  return s + "]";
}

} // namespace stet
