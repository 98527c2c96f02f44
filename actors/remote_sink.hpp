// A session on another node, seen from the document's owner: frames for it
// are published on that node's relay channel for the document, and that
// node hands them to the session.
#pragma once

#include "actors/cluster_bus.hpp"
#include "actors/session_sink.hpp"

namespace stet {

class remote_sink final : public session_sink {
public:
  remote_sink(std::shared_ptr<cluster_bus> bus, std::string node, std::string doc_id, std::string session_id)
    : bus_(std::move(bus)), node_(std::move(node)), doc_id_(std::move(doc_id)), session_id_(std::move(session_id)) {
  }

  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }

  void send(std::shared_ptr<const std::string> frame) override {
    auto env = envelope();
    env.mutable_frame()->set_session_id(session_id_);
    env.mutable_frame()->set_message(*frame);
    bus_->publish(bus_->relay_channel(node_, doc_id_), env.SerializeAsString());
  }
  /// A commit's messages for this session: one publish.
  void send(std::vector<std::shared_ptr<const std::string>> frames) override {
    if (frames.size() == 1)
      return send(std::move(frames.front()));
    auto env = envelope();
    auto* batch = env.mutable_frames();
    batch->set_session_id(session_id_);
    for (auto& f : frames)
      batch->add_messages(*f);
    bus_->publish(bus_->relay_channel(node_, doc_id_), env.SerializeAsString());
  }
  using session_sink::send;

private:
  wire::BusEnvelope envelope() const {
    wire::BusEnvelope env;
    env.set_from_node(bus_->node_id());
    env.set_doc_id(doc_id_);
    return env;
  }

  std::shared_ptr<cluster_bus> bus_;
  std::string node_;
  std::string doc_id_;
  std::string session_id_;
};

} // namespace stet
